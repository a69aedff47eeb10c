/**
 * The end of a program, or of a worker, while libdnn's own threads still run its code: a
 * task still running, or one that just completed whose thread is on its way out. Each case
 * runs dnn-exit-child.ts in a child process, which must exit with code 0 (a library
 * unmapped under such a thread ends it with SIGSEGV instead).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./dnn-exit-child.js', import.meta.url));

async function run(mode: string): Promise<string> {
  const { code, signal, stdout, stderr } = await runNode(CHILD, [mode]);
  assert.equal(signal, null, `${mode}: the process died of ${signal}\n${stderr}`);
  assert.equal(code, 0, `${mode}: exit ${code}\n${stderr}`);
  return stdout;
}

describe('libdnn stays loaded while its threads may run', () => {
  test('a worker that loaded it ends with a task running; the process lives on', async () => {
    assert.deepEqual(JSON.parse(await run('worker-ends')), { mapped: true });
  });

  test('a worker is terminated while the promise of its task waits in koffi', async () => {
    assert.deepEqual(JSON.parse(await run('worker-terminated')), { mapped: true });
  });

  test('process.exit while a task runs and its promise waits', async () => {
    await run('exit-in-flight');
  });

  test('the program ends right after tasks that completed together', async () => {
    await run('end-after-wait');
  });
});
