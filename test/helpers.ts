/** Shared helpers of the tests (not a test file: node --test runs *.test.js only). */

import { spawn } from 'node:child_process';
import { nodeCommand } from '../src/cli/run-script.js';
import { type EmulatorOptions, emulator, type hbSysMem } from '../src/index.js';

/** A small machine, so tests are fast and leave little behind. */
export async function smallMachine(options: EmulatorOptions = {}): Promise<void> {
  await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, ...options });
}

/** An empty out-parameter, as C's uninitialised storage. */
export function newMem(): hbSysMem {
  return {} as hbSysMem;
}

/** A snapshot of everything a failing call must leave as it was. */
export function snapshot(mem?: unknown): string {
  const stats = emulator.stats();
  const m =
    typeof mem === 'object' && mem !== null
      ? Object.entries(mem).map(([k, v]) => [k, typeof v === 'bigint' ? `${v}n` : v])
      : `${typeof mem}:${String(mem)}`;
  return JSON.stringify({ stats, m }, (_k, v) =>
    v instanceof Uint8Array ? `bytes(${v.byteOffset},${v.byteLength})` : v,
  );
}

/** How tests start a Node program: as the CLI does (HBSYS_TEST_NODE for arm64 under qemu). */
export { nodeCommand } from '../src/cli/run-script.js';

/** How a Node program run to its end ended, and what it wrote. */
export interface NodeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the Node program `file` with `args` (and `env` added) to its end. */
export async function runNode(
  file: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<NodeRun> {
  const [command, commandArgs] = nodeCommand([file, ...args]);
  const child = spawn(command, commandArgs, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
    child.once('close', (c, s) => done([c, s])),
  );
  return { code, signal, stdout, stderr };
}
