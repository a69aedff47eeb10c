/** The `hbsys` command, run as a user runs it. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeCommand } from './helpers.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/hbsys.js', import.meta.url));

test('hbsys demo runs the round trip on the emulator and verifies every byte', async () => {
  const { stdout } = await run(
    ...nodeCommand([bin, 'demo', '--frames', '2', '--size', '4096', '--json']),
    {
      env: { ...process.env, HB_DNN_SIM_BPU_MEM_SIZE: '8' },
    },
  );
  const result = JSON.parse(stdout);
  assert.equal(result.verified, true);
  assert.equal(result.frames, 2);
  assert.equal(result.stats.cleans, 2);
  assert.equal(result.stats.invalidates, 2);
  assert.equal(result.stats.bpuJobs, 2);
  assert.equal(result.stats.allocationCount, 0, 'the demo frees what it allocates');
});

test('bad arguments exit non-zero with a message', async () => {
  await assert.rejects(
    run(...nodeCommand([bin, 'demo', '--frames', 'many'])),
    (e: Error & { stderr: string; code: number }) => {
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, /expected a positive integer/);
      return true;
    },
  );
});
