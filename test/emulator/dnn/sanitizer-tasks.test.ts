/**
 * The sanitizer knows model tasks. Each finding has a buggy program and its fixed twin:
 * the bug is found every time, and the fix makes no finding.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  emulator,
  type FindingKind,
  HB_DNN_MODEL_IS_RUNNING,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HbSysSanitizerError,
  hbDNNInfer,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  hbDNNWaitTaskDone,
  hbSysFlushMem,
  hbSysReadMem,
  hbSysWriteMem,
} from '../../../src/index.js';
import { ctrl, f32, freeAll, type Loaded, load, ok, tensor, tensors } from '../../dnn/helpers.js';
import { affineModel, modelDir, writeModel } from '../../dnn/models.js';
import { nodeCommand } from '../../helpers.js';

const dir = modelDir();
const file = writeModel(dir, 'affine', affineModel([1, 64]));

let m: Loaded;
let io: { inputs: hbDNNTensor[]; outputs: hbDNNTensor[] };

async function fresh(sanitize: 'report' | 'throw' = 'report'): Promise<void> {
  // A reset restarts the BPU worker and the ONNX runtime (slow under qemu): only when the
  // mode changes. Each test releases what it made, so the next starts clean.
  if (emulator.options().sanitize !== sanitize) {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize });
  }
  emulator.clearFindings();
  m = load(file);
  io = tensors(m.model);
  // Inputs hold data, as a program's do (else each task reads uninitialized memory).
  for (const t of io.inputs) f32(t).fill(1);
}

function kinds(): FindingKind[] {
  return emulator.findings().map((f) => f.kind);
}

function submit(): hbDNNTaskHandle_t {
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  ok(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()));
  return task.value!;
}

function cleanInputs(): void {
  for (const t of io.inputs) ok(hbSysFlushMem(t.sysMem[0]!, HB_SYS_MEM_CACHE_CLEAN));
}

function finish(): void {
  freeAll([...io.inputs, ...io.outputs]);
  ok(hbDNNRelease(m.packed));
}

describe('sanitizer: model tasks', () => {
  beforeEach(() => fresh());

  test('reading an output before hbDNNWaitTaskDone (and its fixed twin)', () => {
    cleanInputs();
    const task = submit();
    const out = new Uint8Array(256);
    ok(hbSysReadMem(out, io.outputs[0]!.sysMem[0]!, 256));
    assert.deepEqual(
      kinds().filter((k) => k === 'task-not-done'),
      ['task-not-done'],
    );
    const f = emulator.findings().find((x) => x.kind === 'task-not-done')!;
    assert.equal(f.where, 'hbSysReadMem');
    assert.match(
      f.message,
      /the CPU read the output .* of model task #\d+ \(model 'affine'\) before it completed: call hbDNNWaitTaskDone on its task first, then INVALIDATE/,
    );
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    emulator.clearFindings();
    // Fixed: wait, INVALIDATE, read.
    const again = submit();
    ok(hbDNNWaitTaskDone(again, 0));
    ok(hbSysFlushMem(io.outputs[0]!.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
    ok(hbSysReadMem(out, io.outputs[0]!.sysMem[0]!, 256));
    ok(hbDNNReleaseTask(again));
    assert.deepEqual(kinds(), []);
    finish();
  });

  test('touching an output mapping before the wait is found too', async () => {
    cleanInputs();
    const task = submit();
    void io.outputs[0]!.sysMem[0]!.virAddr![0];
    // A pointer taken is checked when the synchronous run ends.
    await Promise.resolve();
    assert.ok(kinds().includes('task-not-done'));
    assert.equal(emulator.findings()[0]!.where, 'mem.virAddr');
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    finish();
  });

  test('writing an input while the task runs: hbSysWriteMem, and through the cache (and the fix)', () => {
    cleanInputs();
    let task = submit();
    ok(hbSysWriteMem(io.inputs[0]!.sysMem[0]!, new Uint8Array(256), 256));
    assert.deepEqual(kinds(), ['task-not-done']);
    assert.match(
      emulator.findings()[0]!.message,
      /the CPU wrote the input .* before it completed: call hbDNNWaitTaskDone on its task first, and only then change its input/,
    );
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    emulator.clearFindings();
    cleanInputs();
    task = submit();
    f32(io.inputs[0]!).fill(9); // a cached write while the task is in flight
    ok(hbDNNWaitTaskDone(task, 0));
    assert.deepEqual(kinds(), ['task-not-done']);
    assert.equal(emulator.findings()[0]!.where, 'hbDNNWaitTaskDone');
    assert.match(
      emulator.findings()[0]!.message,
      /wrote .* of an input of model task #\d+ .* while the task ran/,
    );
    ok(hbDNNReleaseTask(task));
    emulator.clearFindings();
    // Fixed: write the next input after the wait, CLEAN, then submit.
    cleanInputs();
    task = submit();
    ok(hbDNNWaitTaskDone(task, 0));
    f32(io.inputs[0]!).fill(9);
    cleanInputs();
    ok(hbDNNReleaseTask(task));
    assert.deepEqual(kinds(), []);
    finish();
  });

  test('releasing a task before it completed (and the fix)', () => {
    cleanInputs();
    ok(hbDNNReleaseTask(submit()));
    assert.deepEqual(kinds(), ['task-released-early']);
    assert.match(
      emulator.findings()[0]!.message,
      /was released before hbDNNWaitTaskDone said it completed: the board cancels it/,
    );
    emulator.clearFindings();
    const task = submit();
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    assert.deepEqual(kinds(), []);
    finish();
  });

  test('a task never released is a leak at reset (and the fix)', async () => {
    cleanInputs();
    const task = submit();
    ok(hbDNNWaitTaskDone(task, 0));
    freeAll([...io.inputs, ...io.outputs]);
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'report' });
    assert.deepEqual(
      kinds().filter((k) => k === 'task-leak'),
      ['task-leak'],
    );
    assert.match(
      emulator.findings().find((f) => f.kind === 'task-leak')!.message,
      /model task #\d+ \(model 'affine'\) was never released \(still live at reset\): call hbDNNReleaseTask/,
    );
  });

  test('too many live tasks (and the fix)', () => {
    cleanInputs();
    const live: hbDNNTaskHandle_t[] = [];
    for (let i = 0; i < 32; i++) live.push(submit());
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    assert.equal(
      hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()),
      HB_DNN_TASK_NUM_EXCEED_LIMIT,
    );
    assert.deepEqual(kinds(), ['task-limit']);
    for (const t of live) {
      ok(hbDNNWaitTaskDone(t, 0));
      ok(hbDNNReleaseTask(t));
    }
    emulator.clearFindings();
    for (let i = 0; i < 40; i++) {
      const t = submit();
      ok(hbDNNWaitTaskDone(t, 0));
      ok(hbDNNReleaseTask(t));
    }
    assert.deepEqual(kinds(), []);
    finish();
  });

  test('a tensor smaller than alignedByteSize (and the fix)', () => {
    const small = tensor(io.inputs[0]!.properties, true, 128);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    assert.notEqual(hbDNNInfer(task, io.outputs, [small], m.model, ctrl()), 0);
    assert.deepEqual(kinds(), ['tensor-too-small']);
    assert.match(
      emulator.findings()[0]!.message,
      /holds 128 bytes, but its aligned shape needs 256 \(alignedByteSize\)/,
    );
    emulator.clearFindings();
    freeAll([small]);
    cleanInputs();
    const t = submit();
    ok(hbDNNWaitTaskDone(t, 0));
    ok(hbDNNReleaseTask(t));
    assert.deepEqual(kinds(), []);
    finish();
  });

  test('hbDNNRelease while a task of its model is live (and the fix)', () => {
    cleanInputs();
    const task = submit();
    ok(hbDNNWaitTaskDone(task, 0));
    assert.equal(hbDNNRelease(m.packed), HB_DNN_MODEL_IS_RUNNING);
    assert.deepEqual(kinds(), ['model-released-busy']);
    assert.match(
      emulator.findings()[0]!.message,
      /model 'affine' has 1 live task\(s\): wait for and release every task/,
    );
    emulator.clearFindings();
    ok(hbDNNReleaseTask(task));
    freeAll([...io.inputs, ...io.outputs]);
    ok(hbDNNRelease(m.packed));
    assert.deepEqual(kinds(), []);
  });

  test('model I/O and the cache: a missing CLEAN and a missing INVALIDATE are found', async () => {
    f32(io.inputs[0]!).fill(1); // no CLEAN
    const task = submit();
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    assert.deepEqual(kinds(), ['device-read-dirty']);
    assert.match(
      emulator.findings()[0]!.message,
      /hbDNNInfer \(model 'affine'\) read its input, but .* never CLEANed/,
    );
    emulator.clearFindings();
    void f32(io.outputs[0]!)[0]; // no INVALIDATE
    await Promise.resolve(); // a pointer taken is checked when the synchronous run ends
    assert.deepEqual(kinds(), ['cpu-read-stale']);
    finish();
  });
});

describe('sanitizer: throw mode stops at the hazard, before anything changes', () => {
  beforeEach(() => fresh('throw'));

  test('a read of an output before the wait throws; the program then waits and goes on', () => {
    cleanInputs();
    const task = submit();
    assert.throws(
      () => hbSysReadMem(new Uint8Array(4), io.outputs[0]!.sysMem[0]!, 4),
      (e: unknown) => e instanceof HbSysSanitizerError && e.finding.kind === 'task-not-done',
    );
    ok(hbDNNWaitTaskDone(task, 0));
    ok(hbDNNReleaseTask(task));
    const early = submit();
    assert.throws(() => hbDNNReleaseTask(early), HbSysSanitizerError);
    ok(hbDNNWaitTaskDone(early, 0)); // not released: the throw changed nothing
    ok(hbDNNReleaseTask(early));
    finish();
  });
});

describe('sanitizer: a task leaked at exit', () => {
  test('is reported when the process exits (and not when it is released)', async () => {
    const entry = fileURLToPath(new URL('../../../src/index.js', import.meta.url));
    const helpers = fileURLToPath(new URL('../../dnn/helpers.js', import.meta.url));
    for (const release of [false, true]) {
      const script = join(dir, `leak-${release}.mjs`);
      const report = join(dir, `leak-${release}.json`);
      writeFileSync(
        script,
        `import * as h from ${JSON.stringify(entry)};
import { load, tensors, ctrl, run } from ${JSON.stringify(helpers)};
const m = load(${JSON.stringify(file)});
const io = tensors(m.model);
const task = { value: null };
h.hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl());
h.hbDNNWaitTaskDone(task.value, 0);
${release ? 'h.hbDNNReleaseTask(task.value); for (const t of [...io.inputs, ...io.outputs]) h.hbSysFreeMem(t.sysMem[0]); h.hbDNNRelease(m.packed);' : ''}
`,
      );
      const [cmd, args] = nodeCommand([script]);
      await promisify(execFile)(cmd, args, {
        env: { ...process.env, HBSYS_SANITIZE: 'report', HBSYS_REPORT_FILE: report },
      });
      const found = JSON.parse(readFileSync(report, 'utf8')).findings.map(
        (f: { kind: string }) => f.kind,
      );
      assert.equal(found.includes('task-leak'), !release, `release=${release}: ${found}`);
    }
  });
});
