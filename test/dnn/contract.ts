/**
 * The hbDNN contract that both backends satisfy, through the public functions only (the
 * package root): one suite, run by a test file per backend that says how to set it up and
 * gives it the same two models in that backend's format. Not a test file.
 *
 * The models: `copy` and `copy2`, each with one F32 input `x` and one F32 output `y` of
 * valid shape (1, 2, 2, 4); y is x, byte for byte. The emulator runs them as ONNX
 * Identity models; the C stand-in copies bytes.
 *
 * It asserts what holds on any backend: codes, that a failure changes nothing, that the
 * messages say what to do, and that memory a task holds is neither freed nor unregistered
 * under it.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  allocateTensor,
  HB_DNN_API_USE_ERROR,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_MODEL_IS_RUNNING,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TENSOR_TYPE_F32,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HbSysError,
  hbDNNGetErrorDesc,
  hbDNNGetInputCount,
  hbDNNGetInputName,
  hbDNNGetLastError,
  hbDNNGetModelHandle,
  hbDNNGetModelNameList,
  hbDNNGetOutputCount,
  hbDNNGetOutputName,
  hbDNNGetVersion,
  type hbDNNHandle_t,
  hbDNNInfer,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  hbDNNWaitTaskDone,
  hbDNNWaitTaskDoneAsync,
  type hbPackedDNNHandle_t,
  hbSysAllocCachedMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  loadModel,
} from '../../src/index.js';
import { ctrl, f32, ok, outputProperties } from './helpers.js';

/** Memory someone else owns (a camera buffer), to register. */
export interface ExternalBuffer {
  readonly phyAddr: bigint;
  readonly size: number;
  free(): void;
}

/** How to run the contract on one backend. */
export interface DnnContractBackend {
  readonly name: string;
  /** Selects the backend and gives it a clean state; runs once before the suite. */
  setup(): void | Promise<void>;
  /** The model files of `copy` and `copy2` (one file or two), for hbDNNInitializeFromFiles. */
  modelFiles(): string[];
  externalBuffer(size: number): ExternalBuffer;
}

const BYTES = 64;
type Task = { value: hbDNNTaskHandle_t | null };

export function dnnContract(backend: DnnContractBackend): void {
  describe(`hbDNN contract: ${backend.name}`, () => {
    let packed: hbPackedDNNHandle_t;
    const models: Record<string, hbDNNHandle_t> = {};
    const live: hbSysMem[] = [];

    before(async () => {
      await backend.setup();
      const files = backend.modelFiles();
      const out: { value?: hbPackedDNNHandle_t } = {};
      ok(hbDNNInitializeFromFiles(out, files, files.length));
      packed = out.value!;
      for (const name of ['copy', 'copy2']) {
        const m: { value?: hbDNNHandle_t } = {};
        ok(hbDNNGetModelHandle(m, packed, name));
        models[name] = m.value!;
      }
    });

    after(() => {
      for (const m of live) if (m.virAddr !== null) hbSysFreeMem(m);
      ok(hbDNNRelease(packed));
    });

    /** A tensor of `copy` with fresh cached memory (alignedByteSize), filled with `fill`. */
    function tensor(fill?: number): hbDNNTensor {
      const mem = {} as hbSysMem;
      assert.equal(hbSysAllocCachedMem(mem, BYTES), 0, hbSysGetLastError()?.message);
      live.push(mem);
      const t: hbDNNTensor = { sysMem: [mem], properties: outputProperties(models.copy!) };
      if (fill !== undefined) {
        f32(t).forEach((_, i, a) => {
          a[i] = fill + i;
        });
        ok(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN));
      }
      return t;
    }

    function submit(model: string, input: hbDNNTensor, output: hbDNNTensor, task?: Task): Task {
      const t: Task = task ?? { value: null };
      ok(hbDNNInfer(t, [output], [input], models[model]!, ctrl()));
      return t;
    }

    function readBack(t: hbDNNTensor): number[] {
      ok(hbSysFlushMem(t.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
      return [...f32(t)];
    }

    const expected = (fill: number) => Array.from({ length: BYTES / 4 }, (_, i) => fill + i);

    test('the version, the model names, counts and properties', () => {
      assert.match(hbDNNGetVersion(), /^\d+\.\d+\.\d+/);
      const names: { value?: readonly string[] } = {};
      const count: { value?: number } = {};
      ok(hbDNNGetModelNameList(names, count, packed));
      assert.deepEqual([...names.value!].sort(), ['copy', 'copy2']);
      assert.equal(count.value, 2);
      const n: { value?: number } = {};
      ok(hbDNNGetInputCount(n, models.copy!));
      assert.equal(n.value, 1);
      ok(hbDNNGetOutputCount(n, models.copy!));
      assert.equal(n.value, 1);
      const name: { value?: string } = {};
      ok(hbDNNGetInputName(name, models.copy!, 0));
      assert.equal(name.value, 'x');
      ok(hbDNNGetOutputName(name, models.copy!, 0));
      assert.equal(name.value, 'y');
      const p = outputProperties(models.copy!);
      assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 2, 2, 4]);
      assert.equal(p.validShape.numDimensions, 4);
      assert.equal(p.tensorType, HB_DNN_TENSOR_TYPE_F32);
      // The layout is the model's (the emulator infers it from the ONNX shape).
      assert.ok([HB_DNN_LAYOUT_NCHW, HB_DNN_LAYOUT_NHWC].includes(p.tensorLayout));
      assert.equal(p.alignedByteSize, BYTES);
    });

    test('infer, wait, INVALIDATE: the output; a second wait; release once, not twice', () => {
      const input = tensor(10);
      const output = tensor();
      const task = submit('copy', input, output);
      ok(hbDNNWaitTaskDone(task.value!, 0));
      assert.deepEqual(readBack(output), expected(10));
      ok(hbDNNWaitTaskDone(task.value!, 0));
      ok(hbDNNReleaseTask(task.value!));
      for (const again of [
        () => hbDNNReleaseTask(task.value!),
        () => hbDNNWaitTaskDone(task.value!, 0),
      ]) {
        assert.equal(again(), HB_DNN_INVALID_TASK_HANDLE);
        assert.match(hbDNNGetLastError()!.message, /released/);
      }
    });

    test('a timeout of -1 waits until the task is done', () => {
      const input = tensor(20);
      const output = tensor();
      const task = submit('copy', input, output);
      ok(hbDNNWaitTaskDone(task.value!, -1));
      assert.deepEqual(readBack(output), expected(20));
      ok(hbDNNReleaseTask(task.value!));
    });

    test('the promise of a wait resolves with 0, and the output is there', async () => {
      const input = tensor(25);
      const output = tensor();
      const task = submit('copy', input, output);
      assert.equal(await hbDNNWaitTaskDoneAsync(task.value!), 0);
      assert.deepEqual(readBack(output), expected(25));
      ok(hbDNNReleaseTask(task.value!));
    });

    test('memory of a task not waited for is not freed under it, and nothing changes', () => {
      const input = tensor(30);
      const output = tensor();
      const task = submit('copy', input, output);
      for (const t of [input, output]) {
        const mem = t.sysMem[0]!;
        const before = { ...mem };
        assert.equal(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT);
        const message = hbSysGetLastError()!.message;
        assert.match(message, /hbDNNWaitTaskDone/);
        assert.match(message, /hbDNNReleaseTask/);
        assert.match(message, /nothing was freed/);
        assert.deepEqual({ ...mem }, before);
      }
      ok(hbDNNWaitTaskDone(task.value!, 0));
      assert.deepEqual(readBack(output), expected(30));
      // Waited for: the memory is the program's again, before the task is released.
      assert.equal(hbSysFreeMem(input.sysMem[0]!), 0);
      ok(hbDNNReleaseTask(task.value!));
      assert.equal(hbSysFreeMem(output.sysMem[0]!), 0);
    });

    test('memory of a released task is the program’s again', () => {
      const input = tensor(35);
      const output = tensor();
      const task = submit('copy', input, output);
      ok(hbDNNWaitTaskDone(task.value!, 0));
      ok(hbDNNReleaseTask(task.value!));
      assert.equal(hbSysFreeMem(input.sysMem[0]!), 0);
      assert.equal(hbSysFreeMem(output.sysMem[0]!), 0);
    });

    test('a registered input is not unregistered under its task', () => {
      const buffer = backend.externalBuffer(4096);
      try {
        const mem = { phyAddr: buffer.phyAddr, memSize: BYTES } as hbSysMem;
        ok(hbSysRegisterMem(mem));
        const input: hbDNNTensor = { sysMem: [mem], properties: outputProperties(models.copy!) };
        f32(input).fill(7);
        ok(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN));
        const output = tensor();
        const task = submit('copy', input, output);
        const before = { ...mem };
        assert.equal(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT);
        assert.match(hbSysGetLastError()!.message, /hbDNNWaitTaskDone.*nothing was unregistered/);
        assert.deepEqual({ ...mem }, before);
        ok(hbDNNWaitTaskDone(task.value!, 0));
        assert.deepEqual(readBack(output), Array(BYTES / 4).fill(7));
        ok(hbDNNReleaseTask(task.value!));
        ok(hbSysUnregisterMem(mem));
      } finally {
        buffer.free();
      }
    });

    test('models batched with more = 1: the open task holds its memory; one wait runs both', () => {
      const in1 = tensor(40);
      const out1 = tensor();
      const in2 = tensor(50);
      const out2 = tensor();
      const task: Task = { value: null };
      ok(hbDNNInfer(task, [out1], [in1], models.copy!, ctrl(true)));
      assert.equal(hbSysFreeMem(out1.sysMem[0]!), HB_SYS_INVALID_ARGUMENT);
      assert.match(hbSysGetLastError()!.message, /more = 1.*submit it/);
      ok(hbDNNInfer(task, [out2], [in2], models.copy2!, ctrl(false)));
      ok(hbDNNWaitTaskDone(task.value!, 0));
      assert.deepEqual(readBack(out1), expected(40));
      assert.deepEqual(readBack(out2), expected(50));
      ok(hbDNNReleaseTask(task.value!));
    });

    test('task.value must be null on entry (unless appending after more = 1)', () => {
      const input = tensor(60);
      const output = tensor();
      const task = submit('copy', input, output);
      const held = task.value;
      const code = hbDNNInfer(task, [output], [input], models.copy!, ctrl());
      assert.equal(code, HB_DNN_API_USE_ERROR);
      assert.match(hbDNNGetLastError()!.message, /task\.value = null/);
      assert.equal(task.value, held);
      ok(hbDNNWaitTaskDone(task.value!, 0));
      ok(hbDNNReleaseTask(task.value!));
    });

    test('hbDNNRelease while a task of its models is live: MODEL_IS_RUNNING, nothing changes', () => {
      const input = tensor(70);
      const output = tensor();
      const task = submit('copy', input, output);
      assert.equal(hbDNNRelease(packed), HB_DNN_MODEL_IS_RUNNING);
      assert.match(hbDNNGetLastError()!.message, /hbDNNWaitTaskDone.*hbDNNReleaseTask/);
      ok(hbDNNWaitTaskDone(task.value!, 0));
      // Waited for but not released: still live, as on the board.
      assert.equal(hbDNNRelease(packed), HB_DNN_MODEL_IS_RUNNING);
      assert.match(hbDNNGetLastError()!.message, /hbDNNReleaseTask/);
      ok(hbDNNReleaseTask(task.value!));
      // The pack still works.
      const again = submit('copy', input, output);
      ok(hbDNNWaitTaskDone(again.value!, 0));
      ok(hbDNNReleaseTask(again.value!));
    });

    test('forged, null and released handles: their codes, with what to pass instead', () => {
      const forged = Object.freeze({}) as never;
      assert.equal(hbDNNWaitTaskDone(forged, 0), HB_DNN_INVALID_TASK_HANDLE);
      assert.match(hbDNNGetLastError()!.message, /hbDNNInfer/);
      assert.equal(hbDNNReleaseTask(forged), HB_DNN_INVALID_TASK_HANDLE);
      const n: { value?: number } = {};
      assert.equal(hbDNNGetInputCount(n, forged), HB_DNN_INVALID_DNN_HANDLE);
      assert.match(hbDNNGetLastError()!.message, /hbDNNGetModelHandle/);
      assert.equal(n.value, undefined);
      assert.equal(hbDNNRelease(forged), HB_DNN_INVALID_PACKED_DNN_HANDLE);
      assert.match(hbDNNGetLastError()!.message, /hbDNNInitializeFromFiles/);
      assert.equal(hbDNNRelease(null as never), HB_DNN_INVALID_PACKED_DNN_HANDLE);
    });

    test('crops of one allocation are a model’s input and output (tensors start where they do)', () => {
      const mem = {} as hbSysMem;
      ok(hbSysAllocCachedMem(mem, 4096));
      live.push(mem);
      const crop = (off: number, memSize = BYTES): hbSysMem => ({
        phyAddr: mem.phyAddr + BigInt(off),
        virAddr: mem.virAddr!.subarray(off),
        memSize,
      });
      const properties = outputProperties(models.copy!);
      const input: hbDNNTensor = { sysMem: [crop(256)], properties };
      const output: hbDNNTensor = { sysMem: [crop(1024)], properties };
      f32(input)
        .subarray(0, BYTES / 4)
        .forEach((_, i, a) => {
          a[i] = 50 + i;
        });
      ok(hbSysFlushMem(input.sysMem[0]!, HB_SYS_MEM_CACHE_CLEAN));
      const task = submit('copy', input, output);
      assert.equal(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT, 'the task holds the crops');
      ok(hbDNNWaitTaskDone(task.value!, 0));
      ok(hbSysFlushMem(output.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
      assert.deepEqual([...f32(output).subarray(0, BYTES / 4)], expected(50));
      ok(hbDNNReleaseTask(task.value!));
      for (const [bad, why] of [
        [crop(4096 - 32), /memSize must be .* 1 … 32: this sub-range starts 4064 bytes/],
        [
          { ...crop(256), phyAddr: mem.phyAddr },
          /for a sub-range set phyAddr = 0x[0-9a-f]{8} \+ 256/,
        ],
      ] as const) {
        const t: Task = { value: null };
        const tensor: hbDNNTensor = { sysMem: [bad], properties };
        assert.equal(
          hbDNNInfer(t, [output], [tensor], models.copy!, ctrl()),
          HB_DNN_INVALID_ARGUMENT,
        );
        assert.match(hbDNNGetLastError()!.message, why);
        assert.equal(t.value, null);
      }
      assert.equal(hbSysFreeMem(mem), 0);
    });

    test('memory below alignedByteSize is refused before anything runs', () => {
      const input = tensor(80);
      const small = {} as hbSysMem;
      ok(hbSysAllocCachedMem(small, BYTES - 4));
      live.push(small);
      const output: hbDNNTensor = { sysMem: [small], properties: outputProperties(models.copy!) };
      const task: Task = { value: null };
      assert.equal(
        hbDNNInfer(task, [output], [input], models.copy!, ctrl()),
        HB_DNN_INVALID_ARGUMENT,
      );
      assert.match(hbDNNGetLastError()!.message, /alignedByteSize/);
      assert.equal(task.value, null);
      // Nothing holds it.
      assert.equal(hbSysFreeMem(small), 0);
    });

    test('at most 32 live tasks: TASK_NUM_EXCEED_LIMIT, and nothing changes', () => {
      const input = tensor(90);
      const output = tensor();
      const tasks = Array.from({ length: 32 }, () => submit('copy', input, output));
      const more: Task = { value: null };
      assert.equal(
        hbDNNInfer(more, [output], [input], models.copy!, ctrl()),
        HB_DNN_TASK_NUM_EXCEED_LIMIT,
      );
      assert.match(hbDNNGetLastError()!.message, /32 .*release .*hbDNNReleaseTask/);
      assert.equal(more.value, null);
      for (const t of tasks) {
        ok(hbDNNWaitTaskDone(t.value!, 0));
        ok(hbDNNReleaseTask(t.value!));
      }
      const again = submit('copy', input, output);
      ok(hbDNNWaitTaskDone(again.value!, 0));
      ok(hbDNNReleaseTask(again.value!));
    });

    test('the idiomatic model: load, write, infer (CLEAN and INVALIDATE implied), read, using', async () => {
      const data = Float32Array.from({ length: BYTES / 4 }, (_, i) => 100 - i);
      {
        using model = loadModel(backend.modelFiles()[0]!, { name: 'copy' });
        assert.equal(model.name, 'copy');
        using input = allocateTensor(model.inputs[0]!.properties);
        using output = allocateTensor(model.outputs[0]!.properties);
        input.write(data);
        const pending = model.infer([input], [output]);
        // Its task holds the memory: the tensor is not freed, and stays usable.
        assert.throws(
          () => output.free(),
          (e: unknown) =>
            e instanceof HbSysError &&
            e.code === HB_SYS_INVALID_ARGUMENT &&
            /hbDNNWaitTaskDone/.test(e.message),
        );
        assert.equal(output.freed, false);
        await pending;
        assert.deepEqual(output.read(), data);
        output.free();
        assert.equal(output.freed, true);
      }
    });

    test('hbDNNGetErrorDesc names every code', () => {
      assert.match(hbDNNGetErrorDesc(HB_DNN_MODEL_IS_RUNNING), /\S/);
      assert.match(hbDNNGetErrorDesc(HB_DNN_INVALID_TASK_HANDLE), /\S/);
    });
  });
}
