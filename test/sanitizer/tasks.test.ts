/**
 * The job hazards for model tasks, through paths the task checks alone do not see: a write
 * through an uncached input's `virAddr` while the task is in flight, a pointer to an output
 * read before hbDNNWaitTaskDone, and an input nobody wrote. Each with its fixed twin.
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  emulator,
  hbDNNInfer,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  hbDNNWaitTaskDone,
} from '../../src/index.js';
import { ctrl, f32, freeAll, type Loaded, load, ok, tensors } from '../dnn/helpers.js';
import { affineModel, modelDir, writeModel } from '../dnn/models.js';
import { kinds } from './programs.js';

const file = writeModel(modelDir(), 'affine', affineModel([1, 64]));
let m: Loaded;
let io: { inputs: hbDNNTensor[]; outputs: hbDNNTensor[] };

function infer(): hbDNNTaskHandle_t {
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  ok(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()));
  return task.value!;
}

function done(task: hbDNNTaskHandle_t): void {
  ok(hbDNNWaitTaskDone(task, 0));
  ok(hbDNNReleaseTask(task));
}

describe('model tasks: job hazards through uncached mappings', () => {
  before(async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'report' });
  });
  beforeEach(() => {
    emulator.clearFindings();
    m = load(file);
    io = tensors(m.model, false); // uncached: no CLEAN, no INVALIDATE needed
  });
  after(() => emulator.clearFindings());

  function finish(): void {
    freeAll([...io.inputs, ...io.outputs]);
    ok(hbDNNRelease(m.packed));
  }

  test('the next input written through virAddr while the task runs (buggy)', async () => {
    f32(io.inputs[0]!).fill(1);
    const task = infer();
    f32(io.inputs[0]!).fill(2);
    done(task);
    finish();
    assert.deepEqual(await kinds(), ['task-not-done'], emulator.report());
  });

  test('the next input written after the wait (fixed)', async () => {
    f32(io.inputs[0]!).fill(1);
    done(infer());
    f32(io.inputs[0]!).fill(2);
    done(infer());
    finish();
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('an output read through its pointer before the wait (buggy)', async () => {
    f32(io.inputs[0]!).fill(1);
    const task = infer();
    void f32(io.outputs[0]!)[0];
    assert.deepEqual(await kinds(), ['task-not-done'], emulator.report());
    done(task);
    finish();
  });

  test('an output pointer taken before the task, read after the wait (fixed)', async () => {
    f32(io.inputs[0]!).fill(1);
    const out = f32(io.outputs[0]!);
    done(infer());
    void out[0];
    finish();
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('an input nobody wrote (buggy)', async () => {
    done(infer());
    finish();
    assert.deepEqual(await kinds(), ['uninitialized-read'], emulator.report());
  });
});
