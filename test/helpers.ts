/** Shared helpers of the tests (not a test file: node --test runs *.test.js only). */

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
