/**
 * What users get wrong, function by function: each bad input gets its documented hbDNN code,
 * a message that says what to do, no throw, and no change (the out-parameters, the heap,
 * the BPU's counters).
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  emulator,
  HB_DNN_API_USE_ERROR,
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_TENSOR_TYPE_S32,
  hbDNNGetErrorDesc,
  hbDNNGetInputCount,
  hbDNNGetInputName,
  hbDNNGetInputTensorProperties,
  hbDNNGetLastError,
  hbDNNGetModelHandle,
  hbDNNGetModelNameList,
  hbDNNGetOutputCount,
  hbDNNGetOutputName,
  hbDNNGetOutputTensorProperties,
  type hbDNNHandle_t,
  hbDNNInfer,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  hbDNNWaitTaskDone,
  type hbPackedDNNHandle_t,
  hbSysFreeMem,
  type hbSysMem,
} from '../../src/index.js';
import { ctrl, f32, type Loaded, load, ok, tensor, tensors } from './helpers.js';
import { affineModel, identityModel, modelDir, writeModel } from './models.js';

const dir = modelDir();
let m: Loaded;
let released: Loaded;
let io: { inputs: hbDNNTensor[]; outputs: hbDNNTensor[] };
let freedInput: hbDNNTensor;
let releasedTask: hbDNNTaskHandle_t;
let openTask: hbDNNTaskHandle_t;

before(async () => {
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
  m = load(writeModel(dir, 'affine', affineModel([1, 4])));
  released = load(writeModel(dir, 'gone', affineModel([1, 4])));
  ok(hbDNNRelease(released.packed));
  io = tensors(m.model);
  const props = {} as hbDNNTensorProperties;
  ok(hbDNNGetInputTensorProperties(props, m.model, 0));
  freedInput = tensor(props);
  ok(hbSysFreeMem(freedInput.sysMem[0]!));
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  ok(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()));
  ok(hbDNNWaitTaskDone(task.value!, 0));
  ok(hbDNNReleaseTask(task.value!));
  releasedTask = task.value!;
  task.value = null;
  ok(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl(true)));
  openTask = task.value!;
});

/** Everything a failing call must leave as it was. */
function state(outs: unknown[]): string {
  const s = emulator.stats();
  return JSON.stringify(
    { s, outs: outs.map((o) => (typeof o === 'object' && o !== null ? { ...o } : o)) },
    (_k, v) =>
      typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes(${v.byteLength})` : v,
  );
}

/** Calls `call`; checks its code, that the message names the fault and what to do, and no change. */
function expectFail(code: number, message: RegExp, call: () => number, outs: unknown[] = []): void {
  const before = state(outs);
  let got: number | undefined;
  assert.doesNotThrow(() => {
    got = call();
  });
  assert.equal(got, code, `code: ${hbDNNGetLastError()?.message}`);
  assert.match(hbDNNGetLastError()!.message, message);
  assert.equal(state(outs), before, 'a failing call changes nothing');
}

const notObjects: [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['a string', 'out'],
  ['a frozen object', Object.freeze({})],
];

const forgedHandles: [string, () => unknown][] = [
  ['null', () => null],
  ['a number', () => 0x1234],
  ['an empty object', () => ({})],
  ['a copy of a live handle', () => ({ ...(m.packed as object) })],
];

describe('hbDNNInitializeFromFiles', () => {
  test('out-parameter, names and count', () => {
    const file = join(dir, 'affine.onnx');
    for (const [what, out] of notObjects) {
      expectFail(HB_DNN_INVALID_ARGUMENT, /packedDNNHandle must be an object/, () =>
        hbDNNInitializeFromFiles(out as never, [file], 1),
      );
      void what;
    }
    const out = {};
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /modelFileNames must be an array of file names/,
      () => hbDNNInitializeFromFiles(out, file as never, 1),
      [out],
    );
    for (const count of [0, 2, -1, 1.5, '1', Number.NaN]) {
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /modelFileCount must be an integer in 1 … modelFileNames.length \(1\)/,
        () => hbDNNInitializeFromFiles(out, [file], count as number),
        [out],
      );
    }
    for (const name of ['', 42, null]) {
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /modelFileNames\[0\] must be a non-empty path/,
        () => hbDNNInitializeFromFiles(out, [name as string], 1),
        [out],
      );
    }
  });

  test('model files that are missing, not ONNX, or whose config does not match', () => {
    const out = {};
    expectFail(
      HB_DNN_CAN_NOT_OPEN_FILE,
      /cannot open .*nope\.onnx \(for .*nope\.bin, the emulator loads the ONNX beside it\): ENOENT; check the path/,
      () => hbDNNInitializeFromFiles(out, [join(dir, 'nope.bin')], 1),
      [out],
    );
    const text = join(dir, 'text.onnx');
    writeFileSync(text, 'this is not a model\n'.repeat(10));
    expectFail(
      HB_DNN_INVALID_MODEL,
      /is not an ONNX model .*pass the \.onnx the board's \.bin was compiled from/,
      () => hbDNNInitializeFromFiles(out, [text], 1),
      [out],
    );
    const empty = join(dir, 'empty.onnx');
    writeFileSync(empty, new Uint8Array(0));
    expectFail(
      HB_DNN_INVALID_MODEL,
      /is not an ONNX model/,
      () => hbDNNInitializeFromFiles(out, [empty], 1),
      [out],
    );
    const configs: [string, Uint8Array, string, RegExp][] = [
      [
        'unknown input',
        identityModel([1, 3, 4, 4]),
        'input_parameters:\n  input_name: nope\n  input_type_rt: featuremap\n',
        /configures input 'nope', which .* does not have \(its inputs: 'image'\)/,
      ],
      [
        'channels',
        identityModel([1, 1, 4, 4]),
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n',
        /trained as rgb NCHW, but the ONNX declares float32 \(1, 1, 4, 4\): its channel dimension \(NCHW\) must be 3/,
      ],
      [
        'odd NV12',
        identityModel([1, 3, 5, 4]),
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n',
        /NV12 needs an even height and width/,
      ],
      [
        'bad pair',
        identityModel([1, 3, 4, 4]),
        'input_parameters:\n  input_type_rt: gray\n  input_type_train: rgb\n  input_layout_train: NCHW\n',
        /'rgb' cannot be fed from input_type_rt 'gray': allowed are gray/,
      ],
      [
        'bad YAML',
        identityModel([1, 3, 4, 4]),
        'input_parameters: [unclosed\n',
        /is not valid YAML/,
      ],
      [
        'mean count',
        identityModel([1, 3, 4, 4]),
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n  norm_type: data_mean\n  mean_value: 1 2\n',
        /mean_value has 2 values: give one, or one per channel \(3\)/,
      ],
      [
        'no mean',
        identityModel([1, 3, 4, 4]),
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n  norm_type: data_mean\n',
        /mean_value is needed for norm_type data_mean/,
      ],
      [
        'input_shape',
        identityModel([1, 3, 4, 4]),
        'input_parameters:\n  input_type_rt: featuremap\n  input_shape: 1x3x8x8\n',
        /input_shape 1x3x8x8 does not match input 'image'/,
      ],
    ];
    for (const [name, bytes, config, message] of configs) {
      const file = writeModel(dir, `config-${name.replace(/ /g, '-')}`, bytes, config);
      expectFail(HB_DNN_INVALID_MODEL, message, () => hbDNNInitializeFromFiles(out, [file], 1), [
        out,
      ]);
    }
    const dynamic = writeModel(
      dir,
      'dynamic',
      identityModel(['batch' as never, 3, 4, 4] as number[]),
    );
    expectFail(
      HB_DNN_INVALID_MODEL,
      /dynamic shape \(batch, 3, 4, 4\): the board runs static shapes/,
      () => hbDNNInitializeFromFiles(out, [dynamic], 1),
      [out],
    );
    const twice = join(dir, 'affine.onnx');
    expectFail(
      HB_DNN_INVALID_MODEL,
      /two models are named 'affine'/,
      () => hbDNNInitializeFromFiles(out, [twice, twice], 2),
      [out],
    );
  });
});

describe('packed handles: hbDNNRelease, hbDNNGetModelNameList, hbDNNGetModelHandle', () => {
  test('null, forged, copied and released handles', () => {
    const list = {};
    const count = {};
    const model = {};
    const cases: [string, () => unknown][] = [
      ...forgedHandles,
      ['a released handle', () => released.packed],
      ['a model handle', () => m.model],
    ];
    for (const [, h] of cases) {
      const re =
        /the packed handle (is not a handle that hbDNNInitializeFromFiles made \(pass packed.value\)|was released with hbDNNRelease)/;
      expectFail(HB_DNN_INVALID_PACKED_DNN_HANDLE, re, () =>
        hbDNNRelease(h() as hbPackedDNNHandle_t),
      );
      expectFail(
        HB_DNN_INVALID_PACKED_DNN_HANDLE,
        re,
        () => hbDNNGetModelNameList(list, count, h() as hbPackedDNNHandle_t),
        [list, count],
      );
      expectFail(
        HB_DNN_INVALID_PACKED_DNN_HANDLE,
        re,
        () => hbDNNGetModelHandle(model, h() as hbPackedDNNHandle_t, 'affine'),
        [model],
      );
    }
  });

  test('out-parameters and names', () => {
    const good = {};
    for (const [, out] of notObjects) {
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /modelNameList must be an object whose value the call can set/,
        () => hbDNNGetModelNameList(out as never, good, m.packed),
        [good],
      );
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /modelNameCount must be an object/,
        () => hbDNNGetModelNameList(good, out as never, m.packed),
        [good],
      );
      expectFail(HB_DNN_INVALID_ARGUMENT, /dnnHandle must be an object/, () =>
        hbDNNGetModelHandle(out as never, m.packed, 'affine'),
      );
    }
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /modelName must be a string/,
      () => hbDNNGetModelHandle(good, m.packed, 7 as never),
      [good],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /no model named 'nope' in this pack \(it has 'affine'\): take a name from hbDNNGetModelNameList/,
      () => hbDNNGetModelHandle(good, m.packed, 'nope'),
      [good],
    );
  });

  test('an out-parameter whose setter throws: nothing is kept', () => {
    const list = {};
    const count = Object.defineProperty({}, 'value', {
      set() {
        throw new Error('no');
      },
    });
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /could not be written/,
      () => hbDNNGetModelNameList(list, count, m.packed),
      [list],
    );
    assert.equal(Object.hasOwn(list, 'value'), false, 'the first out-parameter was undone');
  });
});

describe('model handles: counts, names, properties', () => {
  const calls: [string, (h: hbDNNHandle_t, i: number) => number][] = [
    ['hbDNNGetInputCount', (h) => hbDNNGetInputCount({}, h)],
    ['hbDNNGetOutputCount', (h) => hbDNNGetOutputCount({}, h)],
    ['hbDNNGetInputName', (h, i) => hbDNNGetInputName({}, h, i)],
    ['hbDNNGetOutputName', (h, i) => hbDNNGetOutputName({}, h, i)],
    ['hbDNNGetInputTensorProperties', (h, i) => hbDNNGetInputTensorProperties({} as never, h, i)],
    ['hbDNNGetOutputTensorProperties', (h, i) => hbDNNGetOutputTensorProperties({} as never, h, i)],
  ];

  test('null, forged, copied and released model handles', () => {
    const cases: [string, () => unknown][] = [
      ...forgedHandles,
      ['a released model', () => released.model],
      ['a packed handle', () => m.packed],
    ];
    for (const [, call] of calls) {
      for (const [, h] of cases) {
        expectFail(
          HB_DNN_INVALID_DNN_HANDLE,
          /the model handle (is not a handle that hbDNNGetModelHandle made|belongs to models released with hbDNNRelease)/,
          () => call(h() as hbDNNHandle_t, 0),
        );
      }
    }
  });

  test('indices out of range or not int32', () => {
    for (const [fn, call] of calls.slice(2)) {
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /(input|output)Index 1 is out of range: model 'affine' has 1 (input|output)\(s\), 0 … 0/,
        () => call(m.model, 1),
      );
      expectFail(HB_DNN_INVALID_ARGUMENT, /Index -1 is out of range/, () => call(m.model, -1));
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /the index must be an int32 below hbDNNGet(Input|Output)Count, got 0.5/,
        () => call(m.model, 0.5),
        [fn],
      );
    }
  });

  test('out-parameters that cannot be set', () => {
    for (const [, out] of notObjects) {
      expectFail(HB_DNN_INVALID_ARGUMENT, /inputCount must be an object/, () =>
        hbDNNGetInputCount(out as never, m.model),
      );
      expectFail(HB_DNN_INVALID_ARGUMENT, /name must be an object/, () =>
        hbDNNGetOutputName(out as never, m.model, 0),
      );
      expectFail(HB_DNN_INVALID_ARGUMENT, /properties must be an object the call can fill/, () =>
        hbDNNGetInputTensorProperties(out as never, m.model, 0),
      );
    }
  });
});

describe('hbDNNInfer', () => {
  const infer = (
    t: { value: unknown },
    out: unknown = io.outputs,
    inp: unknown = io.inputs,
    h: unknown = m.model,
    c: unknown = ctrl(),
  ) => hbDNNInfer(t as never, out as never, inp as never, h as never, c as never);

  test('task handles: not settable, forged, released, not open', () => {
    for (const [, out] of notObjects) {
      expectFail(HB_DNN_INVALID_ARGUMENT, /taskHandle must be an object/, () =>
        infer(out as never),
      );
    }
    for (const [, h] of forgedHandles.slice(1)) {
      const t = { value: h() };
      expectFail(
        HB_DNN_INVALID_TASK_HANDLE,
        /the task is not a task that hbDNNInfer or hbDNNResize made/,
        () => infer(t),
        [t],
      );
    }
    const r = { value: releasedTask };
    expectFail(
      HB_DNN_INVALID_TASK_HANDLE,
      /was already released with hbDNNReleaseTask; set task.value = null before the next hbDNNInfer/,
      () => infer(r),
      [r],
    );
  });

  test('model handles', () => {
    const t = { value: null };
    for (const [, h] of [...forgedHandles, ['released', () => released.model] as const]) {
      expectFail(
        HB_DNN_INVALID_DNN_HANDLE,
        /the model handle/,
        () => infer(t, io.outputs, io.inputs, h()),
        [t],
      );
    }
  });

  test('wrong counts, tensors that are not tensors', () => {
    const t = { value: null };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /model 'affine' has 1 input\(s\) \(hbDNNGetInputCount\), but 2 input tensor\(s\) were passed/,
      () => infer(t, io.outputs, [io.inputs[0], io.inputs[0]]),
      [t],
    );
    expectFail(HB_DNN_INVALID_ARGUMENT, /has 1 output\(s\).*but 0 output/, () => infer(t, []), [t]);
    expectFail(HB_DNN_INVALID_ARGUMENT, /output must be an array/, () => infer(t, io.outputs[0]), [
      t,
    ]);
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /input\[0\] must be an hbDNNTensor \{ sysMem: hbSysMem\[\], properties \}/,
      () => infer(t, io.outputs, [42]),
      [t],
    );
    const noMem = { sysMem: [], properties: io.inputs[0]!.properties };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /input\[0\].sysMem is empty: allocate sysMem\[0\] with hbSysAllocCachedMem/,
      () => infer(t, io.outputs, [noMem]),
      [t],
    );
    const fiveMems = {
      sysMem: Array(5).fill(io.inputs[0]!.sysMem[0]),
      properties: io.inputs[0]!.properties,
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /input\[0\].sysMem has 5 elements; at most 4 are allowed/,
      () => infer(t, io.outputs, [fiveMems]),
      [t],
    );
    const throwing = {
      get sysMem(): never {
        throw new Error('boom');
      },
      properties: {},
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /reading input\[0\].sysMem threw: boom/,
      () => infer(t, io.outputs, [throwing]),
      [t],
    );
  });

  test('memory: freed, foreign, below alignedByteSize, memSize out of range', () => {
    const t = { value: null };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /input\[0\] \('x'\) of model 'affine': sysMem\[0\]: virAddr is null: it was freed/,
      () => infer(t, io.outputs, [freedInput]),
      [t],
    );
    const live = io.inputs[0]!.sysMem[0]!;
    const foreign = {
      sysMem: [{ ...live, virAddr: new Uint8Array(16) }],
      properties: io.inputs[0]!.properties,
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /virAddr is not a mapping made by hbSysAllocMem/,
      () => infer(t, io.outputs, [foreign]),
      [t],
    );
    const small = tensor(io.inputs[0]!.properties, true, 12);
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /sysMem\[0\].memSize is 12 but its aligned shape \(1, 4\) needs 16 bytes \(alignedByteSize\): allocate it with properties.alignedByteSize bytes/,
      () => infer(t, io.outputs, [small]),
      [t],
    );
    const lowered = { sysMem: [{ ...live, memSize: 8 }], properties: io.inputs[0]!.properties };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /memSize is 8 but .* needs 16/,
      () => infer(t, io.outputs, [lowered]),
      [t],
    );
    const moved = {
      sysMem: [{ ...live, phyAddr: live.phyAddr + 64n }],
      properties: io.inputs[0]!.properties,
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /phyAddr .* does not match its mapping/,
      () => infer(t, io.outputs, [moved]),
      [t],
    );
    const outSmall = tensor(io.outputs[0]!.properties, true, 4);
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /output\[0\] \('y'\) of model 'affine': sysMem\[0\].memSize is 4/,
      () => infer(t, [outSmall]),
      [t],
    );
    hbSysFreeMem(small.sysMem[0] as hbSysMem);
    hbSysFreeMem(outSmall.sysMem[0] as hbSysMem);
  });

  test('properties that do not match the model', () => {
    const t = { value: null };
    const p = io.inputs[0]!.properties;
    const mem = io.inputs[0]!.sysMem;
    const wrong = (changes: Partial<hbDNNTensorProperties>) => ({
      sysMem: mem,
      properties: { ...p, ...changes },
    });
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /properties.tensorType is HB_DNN_TENSOR_TYPE_S32 \(14\) but the model's is HB_DNN_TENSOR_TYPE_F32 \(13\): copy the properties from hbDNNGetInputTensorProperties/,
      () => infer(t, io.outputs, [wrong({ tensorType: HB_DNN_TENSOR_TYPE_S32 })]),
      [t],
    );
    const shape = { dimensionSize: [1, 2, 0, 0, 0, 0, 0, 0], numDimensions: 2 };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /properties.validShape is \(1, 2\) but the model's is \(1, 4\)/,
      () => infer(t, io.outputs, [wrong({ validShape: shape })]),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /properties.alignedShape is \(1, 2\) but the model's is \(1, 4\): a feature map is laid out/,
      () => infer(t, io.outputs, [wrong({ alignedShape: shape })]),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /validShape.numDimensions must be an integer in 1 … 8, got 9/,
      () => infer(t, io.outputs, [wrong({ validShape: { dimensionSize: [1], numDimensions: 9 } })]),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /tensorType must be an integer in 0 … 18/,
      () => infer(t, io.outputs, [wrong({ tensorType: 99 })]),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /tensorLayout must be NHWC \(0\), NCHW \(2\) or NONE \(255\), got 1/,
      () => infer(t, io.outputs, [wrong({ tensorLayout: 1 })]),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /properties must be hbDNNTensorProperties/,
      () => infer(t, io.outputs, [{ sysMem: mem, properties: null }]),
      [t],
    );
  });

  test('NV12_SEPARATE with one hbSysMem', () => {
    const config =
      'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n';
    const nv = load(writeModel(dir, 'nv', identityModel([1, 3, 2, 2]), config));
    const { inputs, outputs } = tensors(nv.model);
    const t = { value: null };
    const sep = {
      sysMem: inputs[0]!.sysMem,
      properties: { ...inputs[0]!.properties, tensorType: HB_DNN_IMG_TYPE_NV12_SEPARATE },
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /HB_DNN_IMG_TYPE_NV12_SEPARATE \(2\) needs 2 hbSysMem in tensor.sysMem, got 1/,
      () => hbDNNInfer(t, outputs, [sep], nv.model, ctrl()),
      [t],
    );
    const narrow = {
      sysMem: inputs[0]!.sysMem,
      properties: {
        ...inputs[0]!.properties,
        alignedShape: { dimensionSize: [1, 3, 2, 1, 0, 0, 0, 0], numDimensions: 4 },
      },
    };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /alignedShape \(1, 3, 2, 1\) does not fit validShape \(1, 3, 2, 2\): set alignedShape = validShape, or widen only its W/,
      () => hbDNNInfer(t, outputs, [narrow], nv.model, ctrl()),
      [t],
    );
  });

  test('control parameters', () => {
    const t = { value: null };
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /inferCtrlParam must be an hbDNNInferCtrlParam filled by HB_DNN_INITIALIZE_INFER_CTRL_PARAM/,
      () => infer(t, io.outputs, io.inputs, m.model, null),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /inferCtrlParam.bpuCoreId must be an integer in 0 … 2, got undefined/,
      () => infer(t, io.outputs, io.inputs, m.model, {}),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /inferCtrlParam.priority must be an integer in 0 … 255, got 256/,
      () => infer(t, io.outputs, io.inputs, m.model, { ...ctrl(), priority: 256 }),
      [t],
    );
    expectFail(
      HB_DNN_INVALID_ARGUMENT,
      /inferCtrlParam.more must be an integer in 0 … 1, got 2/,
      () => infer(t, io.outputs, io.inputs, m.model, { ...ctrl(), more: 2 }),
      [t],
    );
  });

  test('a task that is not open cannot be appended to', () => {
    const t: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(infer(t));
    const held = { value: t.value };
    expectFail(
      HB_DNN_API_USE_ERROR,
      /task.value must be null on entry, unless it holds a task whose last hbDNNInfer had inferCtrlParam.more = 1/,
      () => infer(held),
      [held],
    );
    ok(hbDNNWaitTaskDone(t.value!, 0));
    ok(hbDNNReleaseTask(t.value!));
  });
});

describe('hbDNNWaitTaskDone and hbDNNReleaseTask', () => {
  test('forged, released and open tasks; timeouts that are not int32', () => {
    for (const [, h] of forgedHandles) {
      expectFail(
        HB_DNN_INVALID_TASK_HANDLE,
        /the task is not a task that hbDNNInfer or hbDNNResize made/,
        () => hbDNNWaitTaskDone(h() as never, 0),
      );
      expectFail(HB_DNN_INVALID_TASK_HANDLE, /the task is not a task/, () =>
        hbDNNReleaseTask(h() as never),
      );
    }
    expectFail(HB_DNN_INVALID_TASK_HANDLE, /already released/, () =>
      hbDNNWaitTaskDone(releasedTask, 0),
    );
    expectFail(HB_DNN_INVALID_TASK_HANDLE, /already released/, () =>
      hbDNNReleaseTask(releasedTask),
    );
    expectFail(
      HB_DNN_API_USE_ERROR,
      /the task is still open .*submit its last model with more = 0, then wait/,
      () => hbDNNWaitTaskDone(openTask, 0),
    );
    for (const timeout of [0.5, '0', Number.NaN, 2 ** 31, null]) {
      expectFail(
        HB_DNN_INVALID_ARGUMENT,
        /timeout \(milliseconds\) must be an int32 \(0 or less waits until the task is done\)/,
        () => hbDNNWaitTaskDone(openTask, timeout as number),
      );
    }
  });

  test('a timeout of -1 waits until done, as 0 does; a second wait returns 0 again', () => {
    const t: { value: hbDNNTaskHandle_t | null } = { value: null };
    f32(io.inputs[0]!).fill(0);
    ok(hbDNNInfer(t, io.outputs, io.inputs, m.model, ctrl()));
    ok(hbDNNWaitTaskDone(t.value!, -1));
    ok(hbDNNWaitTaskDone(t.value!, -1));
    ok(hbDNNReleaseTask(t.value!));
    expectFail(HB_DNN_INVALID_TASK_HANDLE, /already released/, () => hbDNNReleaseTask(t.value!));
  });

  test('hbDNNGetErrorDesc takes anything', () => {
    for (const v of [undefined, null, 'x', 1.5, -6000129])
      assert.equal(typeof hbDNNGetErrorDesc(v as number), 'string');
  });
});
