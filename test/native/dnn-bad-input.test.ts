/**
 * Bad input to the native hbDNN backend: each gets its documented code and a message that
 * says what to do; what hbsys can check never reaches C (C's call counter does not move);
 * what C refuses leaves nothing behind (C's live packs and tasks, hbsys's native blocks).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TensorSnapshot } from '../../src/dnn/backend.js';
import {
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_INVALID_TASK_HANDLE,
  hbDNNGetLastError,
} from '../../src/dnn/status.js';
import {
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_TENSOR_TYPE_S8,
  type hbDNNHandle_t,
  type hbDNNOut,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  type hbPackedDNNHandle_t,
} from '../../src/dnn/types.js';
import type { hbSysMem } from '../../src/mem.js';
import {
  alloc,
  ctrl,
  fails,
  free,
  loadModels,
  ok,
  publicStandin,
  tensorProperties,
  writeModel,
} from './dnn-harness.js';

const s = publicStandin('C-1.24.5');

const MODEL = `hbsys-standin-model 1
model add
input  x type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16 k=1 b=1
model pair
input  a type=U8 layout=NHWC valid=1x1x1x16
input  b type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16 from=b
model camera
input  frame type=NV12 layout=NCHW valid=1x3x4x8
output y type=U8 layout=NHWC valid=1x1x1x48
`;

function load() {
  const { packed, handle } = loadModels(s, writeModel(MODEL));
  return {
    packed,
    add: handle('add'),
    pair: handle('pair'),
    camera: handle('camera'),
  };
}

const props = (m: hbDNNHandle_t, side: 'input' | 'output', i = 0) =>
  tensorProperties(s, m, side, i);

/** C saw no hbDNN call, nothing is left held, and C holds no task. */
function withoutC(body: () => void): void {
  const calls = s.extras.callCount();
  const tasks = s.extras.liveTasks();
  body();
  assert.equal(s.extras.callCount(), calls, 'the call reached C');
  assert.equal(s.extras.liveTasks(), tasks);
  assert.equal(s.dnn.heldBlocks(), 0);
}

/** Calls that C refused (or that failed after C) leave no task, pack or block behind. */
function leavesNothing(body: () => void): void {
  const packs = s.extras.livePacks();
  const tasks = s.extras.liveTasks();
  body();
  assert.equal(s.extras.livePacks(), packs);
  assert.equal(s.extras.liveTasks(), tasks);
  assert.equal(s.dnn.heldBlocks(), 0);
}

const { packed, add, pair, camera } = load();
const input: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props(add, 'input') };
const output: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props(add, 'output') };

/** Things that are not handles: numbers, bigints, plain objects, copies, Proxies. */
function forgeries(real: object): unknown[] {
  return [
    0,
    1,
    0x7f00_1234,
    0x7f00_1234n,
    'handle',
    {},
    { ...real },
    Object.create(real),
    new Proxy(real, {}),
    structuredClone({}),
  ];
}

describe('handles', () => {
  test('forged packed handles: INVALID_PACKED_DNN_HANDLE, never C', () => {
    for (const forged of forgeries(packed)) {
      const h = forged as hbPackedDNNHandle_t;
      withoutC(() => {
        fails(s.api.hbDNNRelease(h), HB_DNN_INVALID_PACKED_DNN_HANDLE, /hbDNNInitializeFromFiles/);
        fails(
          s.api.hbDNNGetModelNameList({}, {}, h),
          HB_DNN_INVALID_PACKED_DNN_HANDLE,
          /cannot be made from a number/,
        );
        const out: hbDNNOut<hbDNNHandle_t> = {};
        fails(s.api.hbDNNGetModelHandle(out, h, 'add'), HB_DNN_INVALID_PACKED_DNN_HANDLE);
        assert.equal(out.value, undefined);
      });
    }
  });

  test('forged model handles: INVALID_DNN_HANDLE, never C', () => {
    for (const forged of forgeries(add)) {
      const h = forged as hbDNNHandle_t;
      withoutC(() => {
        fails(s.api.hbDNNGetInputCount({}, h), HB_DNN_INVALID_DNN_HANDLE, /hbDNNGetModelHandle/);
        fails(s.api.hbDNNGetOutputName({}, h, 0), HB_DNN_INVALID_DNN_HANDLE);
        fails(s.api.hbDNNGetInputTensorProperties({}, h, 0), HB_DNN_INVALID_DNN_HANDLE);
        const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
        fails(s.api.hbDNNInfer(task, [output], [input], h, ctrl()), HB_DNN_INVALID_DNN_HANDLE);
        assert.equal(task.value, null);
      });
    }
  });

  test('forged task handles: INVALID_TASK_HANDLE, never C', async () => {
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], add, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    for (const forged of forgeries(task.value!)) {
      const h = forged as hbDNNTaskHandle_t;
      withoutC(() => {
        fails(s.api.hbDNNWaitTaskDone(h, 0), HB_DNN_INVALID_TASK_HANDLE, /hbDNNInfer/);
        fails(s.api.hbDNNReleaseTask(h), HB_DNN_INVALID_TASK_HANDLE);
        const append: hbDNNOut<hbDNNTaskHandle_t | null> = { value: h };
        fails(s.api.hbDNNInfer(append, [output], [input], add, ctrl()), HB_DNN_INVALID_TASK_HANDLE);
        assert.equal(append.value, h);
      });
      assert.equal(await s.dnn.taskDone(h), HB_DNN_INVALID_TASK_HANDLE);
    }
    ok(s.api.hbDNNReleaseTask(task.value!));
  });

  test('released handles: the handle’s code, a message that says it was released', () => {
    const other = load();
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], other.add, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    ok(s.api.hbDNNReleaseTask(task.value!));
    ok(s.api.hbDNNRelease(other.packed));
    withoutC(() => {
      fails(s.api.hbDNNReleaseTask(task.value!), HB_DNN_INVALID_TASK_HANDLE, /released once/);
      fails(s.api.hbDNNWaitTaskDone(task.value!, 0), HB_DNN_INVALID_TASK_HANDLE);
      fails(s.api.hbDNNRelease(other.packed), HB_DNN_INVALID_PACKED_DNN_HANDLE, /was released/);
      fails(s.api.hbDNNGetModelHandle({}, other.packed, 'add'), HB_DNN_INVALID_PACKED_DNN_HANDLE);
      fails(
        s.api.hbDNNGetInputCount({}, other.add),
        HB_DNN_INVALID_DNN_HANDLE,
        /model 'add'.*released with hbDNNRelease/,
      );
      const again: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      fails(
        s.api.hbDNNInfer(again, [output], [input], other.add, ctrl()),
        HB_DNN_INVALID_DNN_HANDLE,
      );
    });
  });
});

describe('tensors', () => {
  /** `hbDNNInfer` of `add` with `mutate` applied to fresh copies of the good tensors. */
  function inferWith(mutate: (i: hbDNNTensor, o: hbDNNTensor) => void, m = add): number {
    const i: hbDNNTensor = {
      sysMem: [...input.sysMem],
      properties: structuredClone(input.properties),
    };
    const o: hbDNNTensor = {
      sysMem: [...output.sysMem],
      properties: structuredClone(output.properties),
    };
    mutate(i, o);
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    const code = s.api.hbDNNInfer(task, [o], [i], m, ctrl());
    if (code !== 0) assert.equal(task.value, null);
    return code;
  }

  const badTensors: Array<[string, (i: hbDNNTensor, o: hbDNNTensor) => void, RegExp]> = [
    [
      'no sysMem',
      (i) => i.sysMem.splice(0),
      /input\[0\]\.sysMem is empty: allocate sysMem\[0\] with hbSysAllocCachedMem/,
    ],
    [
      'five sysMem',
      (i) => i.sysMem.push(...i.sysMem, ...i.sysMem, ...i.sysMem, ...i.sysMem),
      /sysMem has 5 elements; at most 4/,
    ],
    [
      'an input of another type',
      (i) => {
        i.properties.tensorType = HB_DNN_IMG_TYPE_NV12_SEPARATE;
      },
      /input\[0\]: tensorType is 2, the model's is 9/,
    ],
    [
      'a smaller memSize than alignedByteSize',
      (_, o) => {
        o.sysMem[0] = { ...o.sysMem[0]!, memSize: 15 };
      },
      /output\[0\]: sysMem\[0\].memSize is 15, below the 16 bytes.*alignedByteSize/,
    ],
    [
      'a larger alignedByteSize than the memory',
      (_, o) => {
        o.properties.alignedByteSize = 4096;
      },
      /below the 4096 bytes/,
    ],
    [
      'memSize 0',
      (i) => {
        i.sysMem[0] = { ...i.sysMem[0]!, memSize: 0 };
      },
      /memSize must be an integer in 1/,
    ],
    [
      'a foreign virAddr',
      (i) => {
        i.sysMem[0] = { ...i.sysMem[0]!, virAddr: new Uint8Array(16) };
      },
      /not a mapping made by hbSysAllocMem/,
    ],
    [
      'a moved phyAddr',
      (i) => {
        i.sysMem[0] = { ...i.sysMem[0]!, phyAddr: i.sysMem[0]!.phyAddr + 4096n };
      },
      /does not match its mapping/,
    ],
    [
      'a null virAddr',
      (i) => {
        i.sysMem[0] = { ...i.sysMem[0]!, virAddr: null };
      },
      /virAddr is null/,
    ],
    [
      'a mismatched output type',
      (_, o) => {
        o.properties.tensorType = HB_DNN_TENSOR_TYPE_S8;
      },
      /output\[0\]: tensorType is 8, the model's is 9: copy the properties from hbDNNGetOutputTensorProperties/,
    ],
    [
      'a negative scaleLen',
      (i) => {
        i.properties.scale.scaleLen = -1;
      },
      /scale.scaleLen must be an integer in 0/,
    ],
  ];
  for (const [what, mutate, message] of badTensors) {
    test(`${what}: INVALID_ARGUMENT before C`, () => {
      withoutC(() => fails(inferWith(mutate), HB_DNN_INVALID_ARGUMENT, message));
    });
  }

  test('NV12_SEPARATE: two sysMem, each holding its plane', () => {
    const nv12 = props(camera, 'input');
    const separate = { ...nv12, tensorType: HB_DNN_IMG_TYPE_NV12_SEPARATE };
    const out: hbDNNTensor = { sysMem: [alloc(s, 48)], properties: props(camera, 'output') };
    const y = alloc(s, 32);
    const uv = alloc(s, 16);
    const small = alloc(s, 31);
    const cases: Array<[hbSysMem[], RegExp]> = [
      [
        [y],
        /has 1 sysMem; a tensor of type 2 uses 2 \(Y, then UV\): fill sysMem\[0\] and sysMem\[1\]/,
      ],
      [[small, uv], /sysMem\[0\].memSize is 31, below the 32 bytes \(its Y plane\)/],
      [
        [y, { ...uv, memSize: 15 }],
        /sysMem\[1\].memSize is 15, below the 16 bytes \(its UV plane\)/,
      ],
    ];
    for (const [sysMem, message] of cases) {
      withoutC(() => {
        const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
        const t: hbDNNTensor = { sysMem, properties: separate };
        fails(s.api.hbDNNInfer(task, [out], [t], camera, ctrl()), HB_DNN_INVALID_ARGUMENT, message);
      });
    }
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [out], [{ sysMem: [y, uv], properties: separate }], camera, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    ok(s.api.hbDNNReleaseTask(task.value!));
    for (const m of [y, uv, small, out.sysMem[0]!]) free(s, m);
  });

  test('freed memory in a tensor: INVALID_ARGUMENT before C', () => {
    const gone = alloc(s, 16);
    const copy: hbSysMem = { ...gone };
    free(s, gone);
    withoutC(() =>
      fails(
        inferWith((i) => {
          i.sysMem[0] = copy;
        }),
        HB_DNN_INVALID_ARGUMENT,
        /input\[0\]: sysMem\[0\]: the memory at 0x[0-9a-f]+ was freed/,
      ),
    );
  });

  test('wrong counts of tensors: INVALID_ARGUMENT before C', () => {
    withoutC(() => {
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      fails(
        s.api.hbDNNInfer(task, [output], [input], pair, ctrl()),
        HB_DNN_INVALID_ARGUMENT,
        /1 input tensor\(s\) given; model 'pair' has 2/,
      );
      fails(s.api.hbDNNInfer(task, [], [input], add, ctrl()), HB_DNN_INVALID_ARGUMENT, /0 output/);
    });
  });

  test('a non-integer customId: INVALID_ARGUMENT before C', () => {
    withoutC(() => {
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      fails(
        s.api.hbDNNInfer(task, [output], [input], add, ctrl({ customId: 0.5 })),
        HB_DNN_INVALID_ARGUMENT,
        /customId/,
      );
    });
  });

  test('what only C can tell: its code and words, and nothing left behind', () => {
    leavesNothing(() => {
      const message = fails(
        inferWith((i) => {
          i.properties.validShape = { dimensionSize: [1, 1, 4, 4], numDimensions: 4 };
        }),
        HB_DNN_INVALID_ARGUMENT,
        /could not submit model 'add'.*libdnn says: stand-in: an argument does not match/,
      );
      assert.match(message, /hbDNNGet…TensorProperties/);
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      fails(
        s.api.hbDNNInfer(task, [output], [input], add, ctrl({ priority: 300 })),
        HB_DNN_INVALID_ARGUMENT,
      );
      assert.equal(task.value, null);
    });
  });

  test('indices and timeouts that are not int32: INVALID_ARGUMENT before C', () => {
    withoutC(() => {
      fails(
        s.api.hbDNNGetInputName({}, add, 0.5),
        HB_DNN_INVALID_ARGUMENT,
        /an int32 below hbDNNGetInputCount/,
      );
      fails(s.api.hbDNNGetOutputTensorProperties({}, add, 2 ** 31), HB_DNN_INVALID_ARGUMENT);
    });
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], add, ctrl()));
    const calls = s.extras.callCount();
    fails(s.api.hbDNNWaitTaskDone(task.value!, 1.5), HB_DNN_INVALID_ARGUMENT, /timeout/);
    assert.equal(s.extras.callCount(), calls, 'the call reached C');
    ok(s.api.hbDNNWaitTaskDone(task.value!, -1));
    ok(s.api.hbDNNReleaseTask(task.value!));
  });

  test('indices past the counts: C’s code and which count bounds them', () => {
    const p: Partial<hbDNNTensorProperties> = {};
    fails(
      s.api.hbDNNGetInputTensorProperties(p, add, 1),
      HB_DNN_INVALID_ARGUMENT,
      /below hbDNNGetInputCount/,
    );
    assert.deepEqual(p, {}, 'the out-parameter is untouched');
    const name: hbDNNOut<string> = {};
    fails(s.api.hbDNNGetOutputName(name, add, -1), HB_DNN_INVALID_ARGUMENT, /hbDNNGetOutputCount/);
    assert.equal(name.value, undefined);
  });

  test('properties the front let through but C cannot be given: a code, the block back', () => {
    const broken = {
      sysMem: input.sysMem.map((m) => ({ ...m, source: m })),
      properties: { ...input.properties, validShape: null },
      source: input,
    } as unknown as TensorSnapshot;
    const good = {
      sysMem: output.sysMem.map((m) => ({ ...m, source: m })),
      properties: output.properties,
      source: output,
    } as TensorSnapshot;
    withoutC(() => {
      const r = s.dnn.infer(null, [good], [broken], add, {
        bpuCoreId: 0,
        dspCoreId: 0,
        priority: 0,
        more: false,
        customId: 0,
      });
      fails(r.code, HB_DNN_INVALID_ARGUMENT, /could not be laid out for libdnn/);
    });
  });

  test('a snapshot that throws nothing reaches C: the backend reads snapshots only', () => {
    // The front snapshots tensors; the backend must not touch the caller's object again.
    const trap = new Proxy({} as hbDNNTensor, {
      get() {
        throw new Error('the backend read the caller’s tensor');
      },
    });
    const snap = (t: hbDNNTensor): TensorSnapshot => ({
      sysMem: t.sysMem.map((m) => ({ ...m, source: m })),
      properties: structuredClone(t.properties),
      source: trap,
    });
    const r = s.dnn.infer(null, [snap(output)], [snap(input)], add, {
      bpuCoreId: 0,
      dspCoreId: 0,
      priority: 0,
      more: false,
      customId: 0,
    });
    ok(r.code);
    assert.ok('value' in r);
    ok(s.dnn.waitTaskDone(r.value, 0));
    ok(s.dnn.releaseTask(r.value));
  });
});

describe('model files and names', () => {
  test('a missing file: CAN_NOT_OPEN_FILE, naming it', () => {
    leavesNothing(() => {
      const packed: hbDNNOut<hbPackedDNNHandle_t> = {};
      fails(
        s.api.hbDNNInitializeFromFiles(packed, ['/nonexistent/model.bin'], 1),
        HB_DNN_CAN_NOT_OPEN_FILE,
        /no such file: \/nonexistent\/model.bin/,
      );
      assert.equal(packed.value, undefined);
    });
  });

  test('a file that is not a model, or a broken one: INVALID_MODEL', () => {
    leavesNothing(() => {
      for (const text of ['not a model\n', 'hbsys-standin-model 1\nmodel m\ninput x type=Q\n']) {
        const packed: hbDNNOut<hbPackedDNNHandle_t> = {};
        fails(
          s.api.hbDNNInitializeFromFiles(packed, [writeModel(text)], 1),
          HB_DNN_INVALID_MODEL,
          /models compiled for this board/,
        );
        assert.equal(packed.value, undefined);
      }
      // One bad file of several: nothing of the good one stays loaded.
      fails(
        s.api.hbDNNInitializeFromFiles({}, [writeModel(MODEL), writeModel('junk\n')], 2),
        HB_DNN_INVALID_MODEL,
      );
    });
  });

  test('a NUL in a path or a name is refused before C', () => {
    withoutC(() => {
      fails(
        s.api.hbDNNInitializeFromFiles({}, [`${writeModel(MODEL)}\0.evil`], 1),
        HB_DNN_INVALID_ARGUMENT,
        /NUL character/,
      );
      fails(s.api.hbDNNGetModelHandle({}, packed, 'add\0x'), HB_DNN_INVALID_ARGUMENT, /NUL/);
    });
  });

  test('an unknown model name: the code, and the names the pack has', () => {
    const out: hbDNNOut<hbDNNHandle_t> = {};
    fails(
      s.api.hbDNNGetModelHandle(out, packed, 'nope'),
      HB_DNN_INVALID_ARGUMENT,
      /find model 'nope'.*the pack has: add, pair/,
    );
    assert.equal(out.value, undefined);
    assert.equal(hbDNNGetLastError()?.fn, 'hbDNNGetModelHandle');
  });
});
