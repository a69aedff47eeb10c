/**
 * Runs a user's Node program with hbsys preloaded (see preload.ts) and collects what it
 * left: the sanitizer's report and the final heap snapshot.
 *
 * The program never outlives hbsys: when the command's lifetime ends (SIGINT, SIGTERM,
 * `--timeout`) it gets the signal, then SIGKILL after a grace period or at a second signal;
 * and if hbsys exits for any other reason while it runs, it is killed.
 */

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HeapDump } from '../observe/dump.js';
import { countByKind, type FindingJson, jsonSafe } from '../observe/findings.js';
import type { EndReason, Lifetime } from './lifetime.js';

export interface ScriptRunOptions {
  script: string;
  args: readonly string[];
  /**
   * Sanitizer on (report mode, stacks on) and its report collected; the snapshot's findings
   * are then the report's, leaks at exit included.
   */
  sanitize?: boolean;
  /** Receives the state while the script runs. */
  onState?: (dump: HeapDump) => void;
  /** When it ends, so does the script. */
  lifetime?: Lifetime;
  /** Record a trace of the script (hbsys's calls on either backend) into this file. */
  traceFile?: string;
  /**
   * The script's stdout goes to hbsys's stderr: hbsys's stdout then carries only what hbsys
   * prints (JSON that a pipe can parse).
   */
  stdoutToStderr?: boolean;
}

export interface ScriptRun {
  /** The script's exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The sanitizer report, when one was written. */
  report: { findings: FindingJson[]; stats?: Record<string, unknown> } | undefined;
  /** The heap at exit, when the script exited normally. */
  snapshot: HeapDump | undefined;
  /** Why hbsys ended the script (a signal to hbsys, the timeout); undefined if it ended itself. */
  ended: EndReason | undefined;
  /** Why the trace asked for could not be written; undefined when it was (or none was asked). */
  traceProblem: string | undefined;
}

/** How long a script may take to end after its signal, before SIGKILL. */
const GRACE_MS = 3000;

const PRELOAD = new URL('./preload.js', import.meta.url).href;

/**
 * How to start Node: this process's binary, or the command in HBSYS_TEST_NODE when that is
 * set (the arm64 test run sets it to Node under qemu, which the kernel cannot start
 * directly on an x86-64 host).
 */
export function nodeCommand(args: readonly string[]): [string, string[]] {
  const wrap = (process.env.HBSYS_TEST_NODE ?? '').split(' ').filter((w) => w !== '');
  return wrap.length === 0
    ? [process.execPath, [...args]]
    : [wrap[0]!, [...wrap.slice(1), ...args]];
}

/** Throws (with what to do) when the script is not a file. */
export function checkScript(script: string): string {
  const path = resolve(script);
  if (!existsSync(path)) {
    throw new Error(`script not found: ${script} (give the path of a .js or .mjs file to run)`);
  }
  if (!statSync(path).isFile()) {
    const what = statSync(path).isDirectory() ? 'a directory' : 'not a regular file';
    throw new Error(`${script} is ${what}, not a script (give the path of a .js or .mjs file)`);
  }
  return path;
}

export async function runScript(options: ScriptRunOptions): Promise<ScriptRun> {
  const script = checkScript(options.script);
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-run-'));
  const reportFile = join(dir, 'report.json');
  const snapshotFile = join(dir, 'snapshot.json');
  const traceFile = join(dir, 'trace.json');
  const env: NodeJS.ProcessEnv = { ...process.env, HBSYS_SNAPSHOT_FILE: snapshotFile };
  if (options.traceFile !== undefined) env.HBSYS_TRACE_FILE = traceFile;
  if (options.sanitize) {
    env.HBSYS_SANITIZE = 'report';
    env.HBSYS_STACKS = '1';
    env.HBSYS_REPORT_FILE = reportFile;
    // hbsys prints the one report: the program prints none of its own.
    env.HBSYS_REPORT_QUIET = '1';
  }
  if (options.onState) env.HBSYS_LIVE = '1';
  try {
    // Source maps on: the stacks in findings point at the program's own sources.
    const [command, commandArgs] = nodeCommand([
      '--enable-source-maps',
      '--import',
      PRELOAD,
      script,
      ...options.args,
    ]);
    const child = spawn(command, commandArgs, {
      stdio: [
        'inherit',
        options.stdoutToStderr ? 2 : 'inherit',
        'inherit',
        ...(options.onState ? (['ipc'] as const) : []),
      ],
      env,
    });
    let ended: EndReason | undefined;
    let grace: NodeJS.Timeout | undefined;
    const running = () => child.exitCode === null && child.signalCode === null;
    const stop = options.lifetime?.onEnd((reason, times) => {
      ended ??= reason;
      if (!running()) return;
      if (times > 1) {
        child.kill('SIGKILL');
        return;
      }
      child.kill(reason.kind === 'signal' ? reason.signal : 'SIGTERM');
      grace ??= setTimeout(() => running() && child.kill('SIGKILL'), GRACE_MS);
    });
    // hbsys exiting for any reason (an uncaught error, process.exit) ends the script too.
    const orphaned = () => {
      if (running()) child.kill('SIGKILL');
    };
    process.on('exit', orphaned);
    if (options.onState) {
      const onState = options.onState;
      child.on('message', (msg: { type?: string; dump?: HeapDump }) => {
        if (msg?.type === 'state' && msg.dump) onState(msg.dump);
      });
    }
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (done, fail) => {
        child.once('error', fail);
        child.once('exit', (c, s) => done([c, s]));
      },
    ).finally(() => {
      stop?.();
      if (grace !== undefined) clearTimeout(grace);
      process.off('exit', orphaned);
    });
    const raw = readJson<ScriptRun['report']>(reportFile);
    // One hex format, whichever hbsys wrote the report.
    const report =
      raw === undefined || !Array.isArray(raw.findings)
        ? undefined
        : { ...raw, findings: raw.findings.map((f) => jsonSafe(f) as FindingJson) };
    const snapshot = readJson<{ dump?: HeapDump }>(snapshotFile)?.dump;
    if (report !== undefined && snapshot !== undefined) {
      // The sanitizer reports leaks at exit, after the snapshot was taken: its report is
      // the complete list.
      snapshot.findings = report.findings;
      snapshot.stats.findings = report.findings.length;
      if ('findingsByKind' in snapshot.stats) {
        const byKind = snapshot.stats.findingsByKind as Record<string, number>;
        const zero = Object.fromEntries(Object.keys(byKind).map((k) => [k, 0]));
        Object.assign(byKind, zero, countByKind(report.findings));
      }
    }
    let traceProblem: string | undefined;
    if (options.traceFile !== undefined) {
      try {
        copyFileSync(traceFile, options.traceFile);
      } catch (error) {
        traceProblem = existsSync(traceFile)
          ? `cannot write --trace ${options.traceFile}: ${(error as Error).message}`
          : `${options.script} left no trace (it ended before its exit handlers ran)`;
      }
    }
    return { code, signal, report, snapshot, ended, traceProblem };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
