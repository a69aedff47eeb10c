/** Running `hbsys` as a user does, for the CLI and browser tests (not a test file). */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeCommand } from './helpers.js';

export const BIN = fileURLToPath(new URL('../../bin/hbsys.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A small heap, so that every run is quick. */
export const SMALL_ENV = { HB_DNN_SIM_BPU_MEM_SIZE: '16' };

/**
 * Runs `hbsys args…` to completion. With `options.timeoutMs`, a run that takes longer is
 * killed and resolves with code null; `options.onStart` receives the child (to signal it).
 */
export function hbsys(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { timeoutMs?: number; onStart?: (child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return runBin(BIN, args, env, options);
}

/** Runs the hbsys command at `bin` (another copy of the package) to completion. */
export function runBin(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { timeoutMs?: number; onStart?: (child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, commandArgs] = nodeCommand([bin, ...args]);
    const child = spawn(command, commandArgs, {
      env: { ...process.env, ...SMALL_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', reject);
    const finish = (code: number | null) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    };
    child.once('close', finish);
    // A process that hbsys left running holds the pipes open: do not wait for it for ever.
    child.once('exit', (code) => setTimeout(() => finish(code), 2000).unref());
    options.onStart?.(child);
  });
}

/** A temp dir outside the repository (no node_modules: 'hbsys' resolves only via the CLI). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `hbsys-${prefix}-`));
}

/** Writes a script into `dir` and returns its path. */
export function script(dir: string, name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

/** Starts `hbsys serve …` and resolves with the URL it prints, and the child to kill. */
export function serve(
  args: string[],
): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const [command, commandArgs] = nodeCommand([BIN, 'serve', '--port', '0', ...args]);
    const child = spawn(command, commandArgs, {
      env: { ...process.env, ...SMALL_ENV },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
      const m = /memory map at (http:\/\/\S+)/.exec(stderr);
      if (m) resolve({ url: m[1]!, child, stderr: () => stderr });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`hbsys serve exited with ${code}: ${stderr}`)));
  });
}

/** Ends a child this test started and waits for it. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}
