/**
 * hbDNNWaitTaskDone blocks the calling thread while the BPU worker runs on: no deadlock in
 * the main thread or in a worker thread, timeouts honoured, and a process that forgets its
 * tasks still exits.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { nodeCommand } from '../helpers.js';
import { affineModel, chainModel, modelDir, writeModel } from './models.js';

const dir = modelDir();
const file = writeModel(dir, 'affine', affineModel([1, 16]));
const chainFile = writeModel(dir, 'chain', chainModel());
const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const helpers = fileURLToPath(new URL('./helpers.js', import.meta.url));

/** A program that runs the model with blocking waits, timeouts included, and reports. */
const program = `
import * as h from ${JSON.stringify(entry)};
import { load, tensors, ctrl, f32 } from ${JSON.stringify(helpers)};
const m = load(${JSON.stringify(file)});
const io = tensors(m.model, false);
const results = [];
for (let i = 0; i < 20; i++) {
  f32(io.inputs[0]).fill(i);
  const task = { value: null };
  if (h.hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()) !== 0) throw new Error(h.hbDNNGetLastError().message);
  const code = h.hbDNNWaitTaskDone(task.value, i % 2 === 0 ? 0 : 5000);
  results.push([code, f32(io.outputs[0])[3]]);
  h.hbDNNReleaseTask(task.value);
}
// A wait that must time out: the task sits behind long model tasks on the BPU's one queue
// (chains of matrix products: milliseconds of compute for one cheap submission). A thread
// descheduled for longer than the work ahead (a loaded machine) finds the task done, so
// each attempt queues more ahead; one attempt that times out is the proof.
const chain = load(${JSON.stringify(chainFile)});
const ahead = tensors(chain.model, false);
let timeout, waited, after;
for (const tasksAhead of [1, 4, 16]) {
  const aheadTasks = Array.from({ length: tasksAhead }, () => {
    const t = { value: null };
    h.hbDNNInfer(t, ahead.outputs, ahead.inputs, chain.model, ctrl());
    return t.value;
  });
  const task = { value: null };
  h.hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl());
  const began = performance.now();
  timeout = h.hbDNNWaitTaskDone(task.value, 2);
  waited = performance.now() - began;
  after = h.hbDNNWaitTaskDone(task.value, 0);
  h.hbDNNReleaseTask(task.value);
  for (const t of aheadTasks) {
    h.hbDNNWaitTaskDone(t, 0);
    h.hbDNNReleaseTask(t);
  }
  if (timeout !== 0) break;
}
export const report = { results, timeout, waited, after };
`;

test('from a worker thread: blocking waits complete, and a timeout returns in time', async () => {
  const script = join(dir, 'in-worker.mjs');
  writeFileSync(
    script,
    `${program}\nimport { parentPort } from 'node:worker_threads';\nparentPort.postMessage(report);\n`,
  );
  const worker = new Worker(script);
  const report = await new Promise<{
    results: [number, number][];
    timeout: number;
    waited: number;
    after: number;
  }>((resolve, reject) => {
    // Generous: under qemu on a loaded machine the program alone took over 30 s.
    const timer = setTimeout(() => reject(new Error('the worker deadlocked')), 180_000);
    worker.once('message', (r) => {
      clearTimeout(timer);
      resolve(r);
    });
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.deepEqual(
    report.results,
    Array.from({ length: 20 }, (_, i) => [0, 2 * i + 1]),
  );
  assert.equal(report.timeout, -6000008, 'HB_DNN_TIMEOUT');
  assert.ok(report.waited < 1000, `waited ${report.waited} ms for a 2 ms timeout`);
  assert.equal(report.after, 0);
});

test('from the main thread of a process, which then exits by itself', async () => {
  const script = join(dir, 'main.mjs');
  writeFileSync(
    script,
    `${program}\nconsole.log(JSON.stringify(report));\n// A task left running and never released must not keep the process alive.\nconst t = { value: null };\nh.hbDNNInfer(t, io.outputs, io.inputs, m.model, ctrl());\n`,
  );
  const [cmd, args] = nodeCommand([script]);
  const { stdout } = await promisify(execFile)(cmd, args, { timeout: 180_000 });
  const report = JSON.parse(stdout);
  assert.deepEqual(
    report.results,
    Array.from({ length: 20 }, (_, i) => [0, 2 * i + 1]),
  );
  assert.equal(report.timeout, -6000008);
  assert.ok(report.waited < 1000);
  assert.equal(report.after, 0);
});
