/** Running this repository's JavaScript tools for the package tests (not a test file). */

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The repository's root, from build/test/package/. */
export const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Runs a tool of node_modules (tsc, TypeDoc, publint, arethetypeswrong) with Node: its
 * verdict on the package does not depend on the CPU, so in the arm64 run (HBSYS_TEST_NODE
 * set) it runs on the machine's own `node` rather than minutes under qemu. What the package
 * does at run time is tested with the Node under test (`nodeCommand`).
 */
export function runTool(path: string, args: readonly string[], cwd = root) {
  const node = process.env.HBSYS_TEST_NODE ? 'node' : process.execPath;
  return exec(node, [join(root, 'node_modules', path), ...args], {
    cwd,
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
}

/** A command's exit code and output, whether it failed or not. */
export async function outcome(run: Promise<{ stdout: string; stderr: string }>) {
  try {
    const { stdout, stderr } = await run;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}
