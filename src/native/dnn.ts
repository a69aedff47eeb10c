/**
 * The model API (`dnn/hb_dnn.h`) of the native backend: the board's libdnn through koffi.
 *
 * - Handles are frozen objects this backend makes and recognises (WeakMaps); a number, a
 *   copy or a Proxy of a handle is refused with the handle's code, and so is a released one.
 * - The struct generation (A 1.6.1, B 1.9.x, C 1.18 and later) comes from hbDNNGetVersion,
 *   or, for the versions in between, from what the library writes into a marked buffer.
 * - Tensors are checked against the model and against live hbSys memory before C sees them,
 *   and C gets the native pointer behind each `sysMem[i].virAddr`.
 * - Everything C may still read (tensor arrays, quantisation arrays) stays allocated until
 *   the task completes; see dnn-tasks.ts.
 */

import { existsSync } from 'node:fs';
import type {
  DnnBackend,
  DnnResult,
  InferCtrlSnapshot,
  ResizeCtrlSnapshot,
  TensorSnapshot,
} from '../dnn/backend.js';
import {
  describeDnnStatus,
  dnnFail,
  HB_DNN_API_USE_ERROR,
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_INCOMPATIBLE_MODEL,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_MODEL_IS_RUNNING,
  HB_DNN_OUT_OF_MEMORY,
  HB_DNN_SUCCESS,
  HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
} from '../dnn/status.js';
import {
  HB_DNN_MAX_BATCHED_MODELS,
  HB_DNN_MAX_LIVE_TASKS,
  type hbDNNHandle_t,
  type hbDNNRoi,
  type hbDNNTaskHandle_t,
  type hbDNNTensorProperties,
  type hbPackedDNNHandle_t,
} from '../dnn/types.js';
import type { NativeBackend } from './backend.js';
import { BlockPool } from './dnn-blocks.js';
import {
  generationFromProbe,
  generationOfVersion,
  PROBE_MARKS,
  PROBE_SIZE,
} from './dnn-generation.js';
import { type DnnGeneration, type DnnLayout, decodeProperties, LAYOUTS } from './dnn-layout.js';
import { type Allocate, marshalInfer, marshalResize, type ResolvedTensor } from './dnn-marshal.js';
import { type TaskState, TaskTable, type TaskTensorMemory } from './dnn-tasks.js';
import { isImageType, resolveTensor } from './dnn-tensors.js';
import { bindDnn, type Libdnn, type LibdnnDnn, type NativeBlock } from './libdnn.js';

/** The native model API, with what the tests look at. */
export interface NativeDnnBackend extends DnnBackend {
  /** The struct generation in use; undefined until a probe decides it (see dnn-generation). */
  readonly generation: DnnGeneration | undefined;
  /** Native blocks hbsys holds for C (tensor arrays of tasks not yet complete). */
  heldBlocks(): number;
}

interface PackState {
  readonly handle: hbPackedDNNHandle_t;
  readonly address: bigint;
  live: boolean;
  readonly models: Map<string, ModelState>;
}

interface ModelState {
  readonly handle: hbDNNHandle_t;
  readonly address: bigint;
  readonly pack: PackState;
  readonly name: string;
  /** Counts and properties, read from C with the handle, for checking tensors at each infer. */
  info: ModelInfo | undefined;
}

interface ModelInfo {
  readonly inputs: readonly hbDNNTensorProperties[];
  readonly outputs: readonly hbDNNTensorProperties[];
}

type Side = 'input' | 'output';

// The scratch block: out-parameter cells and the two probe buffers.
const CELL = 0;
const CELL2 = 8;
const PROBE_A = 16;
const PROBE_B = PROBE_A + PROBE_SIZE;
const SCRATCH_SIZE = PROBE_B + PROBE_SIZE;

const isInt32 = (n: unknown) => Number.isInteger(n) && (n as number) === ((n as number) | 0);

/** One frozen prototype per kind of handle: it names the kind when a handle is printed. */
const PROTOTYPES = new Map<string, object>();

/** A new handle: a frozen object with no fields, recognised by identity only. */
export function opaque<T>(kind: string): T {
  let proto = PROTOTYPES.get(kind);
  if (proto === undefined) {
    const made: object = Object.freeze(
      Object.create(null, { [Symbol.toStringTag]: { value: kind } }),
    );
    PROTOTYPES.set(kind, made);
    proto = made;
  }
  return Object.freeze(Object.create(proto)) as T;
}

/**
 * The model API over `lib` (already loaded with its hbSys functions) for the hbSys memory
 * of `sys`. Throws an HbSysError when `lib` has no hbDNN functions.
 */
export function createNativeDnnBackend(lib: Libdnn, sys: NativeBackend): NativeDnnBackend {
  const dnn: LibdnnDnn = bindDnn(lib);
  const version = dnn.hbDNNGetVersion();
  const choice = generationOfVersion(version);
  let layout: DnnLayout | undefined =
    'generation' in choice ? LAYOUTS[choice.generation] : undefined;
  let blocksHeld = 0;
  const pool = new BlockPool(dnn);
  const scratch = dnn.allocBlock(SCRATCH_SIZE);
  const packs = new WeakMap<object, PackState>();
  const models = new WeakMap<object, ModelState>();
  /** Live packs: a probe needs one of their models. */
  const livePacks = new Set<PackState>();

  /**
   * Lays out one call's native block with `marshal`; the code of a failure recorded for `fn`
   * when there is no native memory or the properties cannot be laid out (the block is freed).
   */
  function layOut<T extends { readonly block: NativeBlock }>(
    fn: string,
    marshal: (allocate: Allocate) => T,
  ): T | number {
    let block: NativeBlock | undefined;
    try {
      const call = marshal((size) => {
        block = pool.take(size);
        return block;
      });
      blocksHeld++;
      return call;
    } catch (error) {
      if (block === undefined) {
        return dnnFail(
          HB_DNN_OUT_OF_MEMORY,
          fn,
          `no native memory for the call's tensor arrays (${String(error)})`,
        );
      }
      pool.give(block);
      return dnnFail(
        HB_DNN_INVALID_ARGUMENT,
        fn,
        `a tensor's properties could not be laid out for libdnn (${String(error)}): pass ` +
          'properties as hbDNNGet…TensorProperties fills them',
      );
    }
  }
  function freeBlock(block: NativeBlock): void {
    pool.give(block);
    blocksHeld--;
  }

  function libraryErrorDesc(code: number): string | undefined {
    if (dnn.hbDNNGetErrorDesc === undefined || !isInt32(code)) return undefined;
    return dnn.hbDNNGetErrorDesc(code) ?? undefined;
  }

  function libFail(fn: string, code: number, what: string, hint: string): number {
    const ours = describeDnnStatus(code) ?? `status ${code}`;
    const theirs = libraryErrorDesc(code);
    const said = theirs === undefined ? '' : ` (libdnn says: ${theirs})`;
    return dnnFail(code, fn, `libdnn (${dnn.path}) could not ${what}: ${ours}${said}; ${hint}`);
  }

  const tasks = new TaskTable(dnn, freeBlock, libFail, () =>
    opaque<hbDNNTaskHandle_t>('hbDNNTaskHandle_t'),
  );

  const cellPointer = (at = CELL) => scratch.bytes.getBigUint64(at, true);
  const cellInt32 = (at = CELL) => scratch.bytes.getInt32(at, true);
  const clearCells = () => {
    scratch.bytes.setBigUint64(CELL, 0n, true);
    scratch.bytes.setBigUint64(CELL2, 0n, true);
  };
  const at = (offset: number) => scratch.address + BigInt(offset);

  function lookupPack(fn: string, handle: unknown): PackState | number {
    const p = typeof handle === 'object' && handle !== null ? packs.get(handle) : undefined;
    if (p === undefined) {
      return dnnFail(
        HB_DNN_INVALID_PACKED_DNN_HANDLE,
        fn,
        'packedDNNHandle is not a handle made by hbDNNInitializeFromFiles: pass the value that ' +
          'call set (a handle cannot be made from a number or copied)',
      );
    }
    if (!p.live) {
      return dnnFail(
        HB_DNN_INVALID_PACKED_DNN_HANDLE,
        fn,
        'packedDNNHandle was released with hbDNNRelease: load the models again',
      );
    }
    return p;
  }

  function lookupModel(fn: string, handle: unknown): ModelState | number {
    const m = typeof handle === 'object' && handle !== null ? models.get(handle) : undefined;
    if (m === undefined) {
      return dnnFail(
        HB_DNN_INVALID_DNN_HANDLE,
        fn,
        'dnnHandle is not a handle made by hbDNNGetModelHandle: pass the value that call set ' +
          '(a handle cannot be made from a number or copied)',
      );
    }
    if (!m.pack.live) {
      return dnnFail(
        HB_DNN_INVALID_DNN_HANDLE,
        fn,
        `dnnHandle (model '${m.name}') belongs to a pack released with hbDNNRelease: ` +
          'get the handle from a live pack',
      );
    }
    return m;
  }

  /** libdnn's handle of some model of a live pack, or 0n when no pack is loaded. */
  function anyModelAddress(): bigint {
    for (const p of livePacks) {
      for (const m of p.models.values()) return m.address;
      clearCells();
      if (dnn.hbDNNGetModelNameList(at(CELL), at(CELL2), p.address) !== HB_DNN_SUCCESS) continue;
      if (cellInt32(CELL2) < 1 || cellPointer() === 0n) continue;
      const first = dnn.readString(
        new DataView(dnn.readBytes(cellPointer(), 8).buffer).getBigUint64(0, true),
      );
      clearCells();
      if (first === null || dnn.hbDNNGetModelHandle(at(CELL), p.address, first) !== HB_DNN_SUCCESS)
        continue;
      if (cellPointer() !== 0n) return cellPointer();
    }
    return 0n;
  }

  /** The struct layout of this libdnn, probed with `model` where its version does not tell. */
  function layoutFor(fn: string, model: ModelState | undefined): DnnLayout | number {
    if (layout !== undefined) return layout;
    const why = 'probe' in choice ? choice.probe : '';
    const candidate = model?.address ?? anyModelAddress();
    if (candidate === 0n) {
      return dnnFail(
        HB_DNN_INCOMPATIBLE_MODEL,
        fn,
        `hbsys tells the struct layout of this libdnn (${why}) from a model's properties: ` +
          'load a model (hbDNNInitializeFromFiles) first',
      );
    }
    const bytes = new Uint8Array(scratch.bytes.buffer, scratch.bytes.byteOffset, SCRATCH_SIZE);
    for (const get of [dnn.hbDNNGetInputTensorProperties, dnn.hbDNNGetOutputTensorProperties]) {
      bytes.fill(PROBE_MARKS[0], PROBE_A, PROBE_A + PROBE_SIZE);
      bytes.fill(PROBE_MARKS[1], PROBE_B, PROBE_B + PROBE_SIZE);
      if (get(at(PROBE_A), candidate, 0) !== HB_DNN_SUCCESS) continue;
      if (get(at(PROBE_B), candidate, 0) !== HB_DNN_SUCCESS) continue;
      const generation = generationFromProbe(
        bytes.subarray(PROBE_A, PROBE_A + PROBE_SIZE),
        bytes.subarray(PROBE_B, PROBE_B + PROBE_SIZE),
      );
      if (generation === undefined) break;
      layout = LAYOUTS[generation];
      return layout;
    }
    return dnnFail(
      HB_DNN_INCOMPATIBLE_MODEL,
      fn,
      `hbsys cannot tell the struct layout of libdnn ${JSON.stringify(version)} (${dnn.path}): ` +
        `${why}, and the hbDNNTensorProperties it writes fit none of the three known layouts ` +
        '(1.6.1, 1.9.x, 1.18 and later); this libdnn is not supported',
    );
  }

  /** Properties `index` of `side` of a live model, decoded; or a failure's code. */
  function readProperties(
    fn: string,
    m: ModelState,
    side: Side,
    index: number,
  ): hbDNNTensorProperties | number {
    const l = layoutFor(fn, m);
    if (typeof l === 'number') return l;
    const get =
      side === 'input' ? dnn.hbDNNGetInputTensorProperties : dnn.hbDNNGetOutputTensorProperties;
    new Uint8Array(scratch.bytes.buffer, scratch.bytes.byteOffset + PROBE_A, PROBE_SIZE).fill(0);
    const code = get(at(PROBE_A), m.address, index);
    if (code !== HB_DNN_SUCCESS) {
      return libFail(fn, code, `read ${side} ${index} of model '${m.name}'`, indexHint(side));
    }
    const p = decodeProperties(scratch.bytes, PROBE_A, l, (a, n) => dnn.readBytes(a, n));
    if (typeof p === 'string') {
      return dnnFail(
        HB_DNN_INCOMPATIBLE_MODEL,
        fn,
        `the properties libdnn ${JSON.stringify(version)} wrote look corrupted in layout ` +
          `${l.generation} (${p}): the layout chosen does not fit this library; report its version`,
      );
    }
    return p;
  }

  function count(fn: string, m: ModelState, side: Side): number | { code: number } {
    scratch.bytes.setInt32(CELL, -1, true);
    const get = side === 'input' ? dnn.hbDNNGetInputCount : dnn.hbDNNGetOutputCount;
    const code = get(at(CELL), m.address);
    if (code !== HB_DNN_SUCCESS) {
      return {
        code: libFail(fn, code, `count the ${side}s of model '${m.name}'`, 'check dnnHandle'),
      };
    }
    return cellInt32();
  }

  function modelInfo(fn: string, m: ModelState): ModelInfo | number {
    if (m.info !== undefined) return m.info;
    const sides: Record<Side, hbDNNTensorProperties[]> = { input: [], output: [] };
    for (const side of ['input', 'output'] as const) {
      const n = count(fn, m, side);
      if (typeof n !== 'number') return n.code;
      for (let i = 0; i < n; i++) {
        const p = readProperties(fn, m, side, i);
        if (typeof p === 'number') return p;
        sides[side].push(p);
      }
    }
    m.info = { inputs: sides.input, outputs: sides.output };
    return m.info;
  }

  function name(fn: string, model: unknown, index: number, side: Side): DnnResult<string> {
    const m = lookupModel(fn, model);
    if (typeof m === 'number') return { code: m };
    if (!isInt32(index)) return { code: badIndex(fn, side) };
    clearCells();
    const get = side === 'input' ? dnn.hbDNNGetInputName : dnn.hbDNNGetOutputName;
    const code = get(at(CELL), m.address, index);
    if (code !== HB_DNN_SUCCESS) {
      return {
        code: libFail(fn, code, `name ${side} ${index} of model '${m.name}'`, indexHint(side)),
      };
    }
    return { code: 0, value: dnn.readString(cellPointer()) ?? '' };
  }

  function properties(
    fn: string,
    model: unknown,
    index: number,
    side: Side,
  ): DnnResult<hbDNNTensorProperties> {
    const m = lookupModel(fn, model);
    if (typeof m === 'number') return { code: m };
    if (!isInt32(index)) return { code: badIndex(fn, side) };
    const p = readProperties(fn, m, side, index);
    return typeof p === 'number' ? { code: p } : { code: 0, value: p };
  }

  function resolveAll(
    fn: string,
    tensors: readonly TensorSnapshot[],
    want: readonly hbDNNTensorProperties[],
    side: Side,
  ): ResolvedTensor[] | number {
    const out: ResolvedTensor[] = [];
    for (let i = 0; i < tensors.length; i++) {
      const r = resolveTensor(fn, sys, tensors[i]!, {
        label: `${side}[${i}]`,
        model: want[i],
        isInput: side === 'input',
        source: `hbDNNGet${side === 'input' ? 'Input' : 'Output'}TensorProperties(…, ${i})`,
      });
      if (typeof r === 'number') return r;
      out.push(r);
    }
    return out;
  }

  const backend: NativeDnnBackend = {
    get generation() {
      return layout?.generation;
    },
    heldBlocks: () => blocksHeld,

    getVersion: () => version ?? '',

    initializeFromFiles(files) {
      const fn = 'hbDNNInitializeFromFiles';
      const nul = files.findIndex((f) => f.includes('\0'));
      if (nul >= 0) {
        return {
          code: dnnFail(
            HB_DNN_INVALID_ARGUMENT,
            fn,
            `modelFileNames[${nul}] contains a NUL character: C would open a different path`,
          ),
        };
      }
      clearCells();
      const code = dnn.hbDNNInitializeFromFiles(at(CELL), files, files.length);
      if (code !== HB_DNN_SUCCESS) {
        const missing = files.filter((f) => !existsSync(f));
        const hint =
          code === HB_DNN_CAN_NOT_OPEN_FILE && missing.length > 0
            ? `no such file: ${missing.join(', ')}`
            : code === HB_DNN_INVALID_MODEL
              ? 'pass models compiled for this board (.bin files from the toolchain)'
              : 'check the files';
        return { code: libFail(fn, code, `load ${files.join(', ')}`, hint) };
      }
      const address = cellPointer();
      if (address === 0n) {
        return {
          code: dnnFail(
            HB_DNN_INVALID_MODEL,
            fn,
            `libdnn (${dnn.path}) succeeded but set no handle`,
          ),
        };
      }
      const handle = opaque<hbPackedDNNHandle_t>('hbPackedDNNHandle_t');
      const p: PackState = { handle, address, live: true, models: new Map() };
      packs.set(handle, p);
      livePacks.add(p);
      return { code: 0, value: handle };
    },

    release(packed) {
      const fn = 'hbDNNRelease';
      const p = lookupPack(fn, packed);
      if (typeof p === 'number') return p;
      const { total, finishing } = tasks.ofPack(p);
      if (total > 0) {
        const running = total - finishing;
        return dnnFail(
          HB_DNN_MODEL_IS_RUNNING,
          fn,
          `${total} task(s) of its models are live` +
            (finishing > 0
              ? ` (${finishing} released before completing, still running on the BPU; ` +
                'release the pack after they end)'
              : '') +
            (running > 0
              ? ': wait for each with hbDNNWaitTaskDone and hbDNNReleaseTask it first'
              : ''),
        );
      }
      const code = dnn.hbDNNRelease(p.address);
      if (code !== HB_DNN_SUCCESS)
        return libFail(
          fn,
          code,
          'release the pack',
          'it is still loaded: release its tasks (hbDNNReleaseTask), then try again',
        );
      p.live = false;
      livePacks.delete(p);
      return HB_DNN_SUCCESS;
    },

    getModelNameList(packed) {
      const fn = 'hbDNNGetModelNameList';
      const p = lookupPack(fn, packed);
      if (typeof p === 'number') return { code: p };
      clearCells();
      const code = dnn.hbDNNGetModelNameList(at(CELL), at(CELL2), p.address);
      if (code !== HB_DNN_SUCCESS) {
        return { code: libFail(fn, code, 'list the models', 'check packedDNNHandle') };
      }
      const list = cellPointer();
      const n = cellInt32(CELL2);
      if (n < 0 || (n > 0 && list === 0n)) {
        return {
          code: dnnFail(
            HB_DNN_INVALID_MODEL,
            fn,
            `libdnn returned ${n} names at 0x${list.toString(16)}`,
          ),
        };
      }
      const names: string[] = [];
      if (n > 0) {
        const pointers = new DataView(dnn.readBytes(list, 8 * n).buffer);
        for (let i = 0; i < n; i++)
          names.push(dnn.readString(pointers.getBigUint64(8 * i, true)) ?? '');
      }
      return { code: 0, value: Object.freeze(names) };
    },

    getModelHandle(packed, modelName) {
      const fn = 'hbDNNGetModelHandle';
      const p = lookupPack(fn, packed);
      if (typeof p === 'number') return { code: p };
      const known = p.models.get(modelName);
      if (known !== undefined) return { code: 0, value: known.handle };
      if (modelName.includes('\0')) {
        return { code: dnnFail(HB_DNN_INVALID_ARGUMENT, fn, 'modelName contains a NUL character') };
      }
      clearCells();
      const code = dnn.hbDNNGetModelHandle(at(CELL), p.address, modelName);
      const address = cellPointer();
      if (code !== HB_DNN_SUCCESS || address === 0n) {
        const list = backend.getModelNameList(packed);
        const names = list.code === 0 && 'value' in list ? list.value.join(', ') : '?';
        return {
          code: libFail(
            fn,
            code === HB_DNN_SUCCESS ? HB_DNN_INVALID_ARGUMENT : code,
            `find model '${modelName}'`,
            `the pack has: ${names} (hbDNNGetModelNameList)`,
          ),
        };
      }
      const handle = opaque<hbDNNHandle_t>('hbDNNHandle_t');
      const m: ModelState = { handle, address, pack: p, name: modelName, info: undefined };
      // The model's interface, read once now, so that checking tensors never needs C.
      const info = modelInfo(fn, m);
      if (typeof info === 'number') return { code: info };
      p.models.set(modelName, m);
      models.set(handle, m);
      return { code: 0, value: handle };
    },

    getInputCount(model) {
      const m = lookupModel('hbDNNGetInputCount', model);
      if (typeof m === 'number') return { code: m };
      const n = count('hbDNNGetInputCount', m, 'input');
      return typeof n === 'number' ? { code: 0, value: n } : n;
    },
    getOutputCount(model) {
      const m = lookupModel('hbDNNGetOutputCount', model);
      if (typeof m === 'number') return { code: m };
      const n = count('hbDNNGetOutputCount', m, 'output');
      return typeof n === 'number' ? { code: 0, value: n } : n;
    },
    getInputName: (model, index) => name('hbDNNGetInputName', model, index, 'input'),
    getOutputName: (model, index) => name('hbDNNGetOutputName', model, index, 'output'),
    getInputTensorProperties: (model, index) =>
      properties('hbDNNGetInputTensorProperties', model, index, 'input'),
    getOutputTensorProperties: (model, index) =>
      properties('hbDNNGetOutputTensorProperties', model, index, 'output'),

    infer(task, output, input, model, ctrl) {
      const fn = 'hbDNNInfer';
      const m = lookupModel(fn, model);
      if (typeof m === 'number') return { code: m };
      const badCtrl = inferCtrlProblem(ctrl);
      if (badCtrl !== undefined) return { code: dnnFail(HB_DNN_INVALID_ARGUMENT, fn, badCtrl) };
      let appendTo: TaskState | undefined;
      if (task !== null) {
        const t = tasks.lookup(fn, task);
        if (typeof t === 'number') return { code: t };
        if (t.kind !== 'infer' || t.phase !== 'open') {
          return {
            code: dnnFail(
              HB_DNN_API_USE_ERROR,
              fn,
              'task.value must be null on entry, unless it holds a task whose last hbDNNInfer had ' +
                'inferCtrlParam.more = 1: set task.value = null for a new task',
            ),
          };
        }
        if (t.batched >= HB_DNN_MAX_BATCHED_MODELS) {
          return {
            code: dnnFail(
              HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
              fn,
              `a task batches at most ${HB_DNN_MAX_BATCHED_MODELS} models: close it with more = 0`,
            ),
          };
        }
        appendTo = t;
      } else {
        const held = tasks.held('infer');
        if (held.total >= HB_DNN_MAX_LIVE_TASKS)
          return { code: failTooMany(fn, held, 'hbDNNInfer') };
      }
      const info = modelInfo(fn, m);
      if (typeof info === 'number') return { code: info };
      for (const [side, given, want] of [
        ['input', input.length, info.inputs.length],
        ['output', output.length, info.outputs.length],
      ] as const) {
        if (given !== want) {
          return {
            code: dnnFail(
              HB_DNN_INVALID_ARGUMENT,
              fn,
              `${given} ${side} tensor(s) given; model '${m.name}' has ${want} ` +
                `(hbDNNGet${side === 'input' ? 'Input' : 'Output'}Count): pass one tensor per ` +
                `${side}, in the model's order`,
            ),
          };
        }
      }
      const ins = resolveAll(fn, input, info.inputs, 'input');
      if (typeof ins === 'number') return { code: ins };
      const outs = resolveAll(fn, output, info.outputs, 'output');
      if (typeof outs === 'number') return { code: outs };
      const l = layoutFor(fn, m);
      if (typeof l === 'number') return { code: l };
      const c = layOut(fn, (allocate) =>
        marshalInfer(allocate, l, appendTo?.address ?? 0n, outs, ins, ctrl),
      );
      if (typeof c === 'number') return { code: c };
      const block = c.block;
      const code = dnn.hbDNNInfer(c.taskCell, c.outputCell, c.input, m.address, c.ctrl);
      const address = block.bytes.getBigUint64(0, true);
      if (code !== HB_DNN_SUCCESS || address === 0n) {
        freeBlock(block);
        return {
          code: libFail(
            fn,
            code === HB_DNN_SUCCESS ? HB_DNN_INVALID_ARGUMENT : code,
            `submit model '${m.name}'`,
            'check the tensors against the model (hbDNNGet…TensorProperties) and the task limits',
          ),
        };
      }
      let t = appendTo;
      if (t === undefined) t = tasks.create('infer', address, block);
      else t.blocks.push(block);
      t.tensors.push(...taskMemory(ins, 'input'), ...taskMemory(outs, 'output'));
      t.packs.add(m.pack);
      t.batched++;
      t.phase = ctrl.more ? 'open' : 'running';
      return { code: 0, value: t.handle };
    },

    waitTaskDone(task, timeoutMs) {
      const fn = 'hbDNNWaitTaskDone';
      if (!isInt32(timeoutMs)) {
        return dnnFail(HB_DNN_INVALID_ARGUMENT, fn, 'timeout must be a 32-bit integer (ms)');
      }
      const t = tasks.lookup(fn, task);
      return typeof t === 'number' ? t : tasks.wait(fn, t, timeoutMs);
    },

    taskDone(task) {
      const fn = 'hbDNNWaitTaskDone';
      const t = tasks.lookup(fn, task);
      return typeof t === 'number' ? Promise.resolve(t) : tasks.done(fn, t);
    },

    releaseTask(task) {
      const fn = 'hbDNNReleaseTask';
      const t = tasks.lookup(fn, task);
      return typeof t === 'number' ? t : tasks.release(fn, t);
    },

    memoryHeldBy: (phyAddr, size) => tasks.heldBy(phyAddr, size),

    resize:
      dnn.hbDNNResize === undefined
        ? undefined
        : (output, input, roi, ctrl) => resize(output, input, roi, ctrl),
  };

  if (dnn.hbDNNGetErrorDesc !== undefined) {
    backend.libraryErrorDesc = libraryErrorDesc;
  }

  function resize(
    output: TensorSnapshot,
    input: TensorSnapshot,
    roi: Readonly<hbDNNRoi> | null,
    ctrl: ResizeCtrlSnapshot,
  ): DnnResult<hbDNNTaskHandle_t> {
    const fn = 'hbDNNResize';
    const badCtrl = [ctrl.bpuCoreId, ctrl.priority, ctrl.resizeType].some((v) => !isInt32(v));
    const badRoi =
      roi !== null && [roi.left, roi.top, roi.right, roi.bottom].some((v) => !isInt32(v));
    if (badCtrl || badRoi) {
      return {
        code: dnnFail(
          HB_DNN_INVALID_ARGUMENT,
          fn,
          `${badCtrl ? 'resizeCtrlParam' : 'roi'} fields must be 32-bit integers`,
        ),
      };
    }
    const ti = input.properties.tensorType;
    const to = output.properties.tensorType;
    if (ti !== to || !isImageType(ti)) {
      return {
        code: dnnFail(
          HB_DNN_INVALID_ARGUMENT,
          fn,
          `input and output must have the same image type (Y, NV12, NV12_SEPARATE, YUV444, ` +
            `RGB or BGR); got ${ti} and ${to}`,
        ),
      };
    }
    const held = tasks.held('resize');
    if (held.total >= HB_DNN_MAX_LIVE_TASKS) return { code: failTooMany(fn, held, 'hbDNNResize') };
    const l = layoutFor(fn, undefined);
    if (typeof l === 'number') return { code: l };
    const expect = (label: string, isInput: boolean) => ({
      label,
      model: undefined,
      isInput,
      source: 'the image you resize',
    });
    const rin = resolveTensor(fn, sys, input, expect('input', true));
    if (typeof rin === 'number') return { code: rin };
    const rout = resolveTensor(fn, sys, output, expect('output', false));
    if (typeof rout === 'number') return { code: rout };
    const c = layOut(fn, (allocate) => marshalResize(allocate, l, rout, rin, roi, ctrl));
    if (typeof c === 'number') return { code: c };
    const block = c.block;
    const code = dnn.hbDNNResize!(c.taskCell, c.output, c.input, c.roi, c.ctrl);
    const address = block.bytes.getBigUint64(0, true);
    if (code !== HB_DNN_SUCCESS || address === 0n) {
      freeBlock(block);
      return {
        code: libFail(
          fn,
          code === HB_DNN_SUCCESS ? HB_DNN_INVALID_ARGUMENT : code,
          'submit the resize',
          'check the ROI (inclusive, inside the image), the sizes and the types',
        ),
      };
    }
    const t = tasks.create('resize', address, block);
    t.tensors.push(...taskMemory([rin], 'input'), ...taskMemory([rout], 'output'));
    return { code: 0, value: t.handle };
  }

  return backend;
}

/** The hbSysMem of `tensors`, as a task holds them. */
function taskMemory(
  tensors: readonly ResolvedTensor[],
  role: TaskTensorMemory['role'],
): TaskTensorMemory[] {
  return tensors.flatMap((t) =>
    t.sysMem.map((m) => ({ phyAddr: m.phyAddr, size: m.memSize, role })),
  );
}

function badIndex(fn: string, side: Side): number {
  return dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `the index must be an integer: ${indexHint(side)}`);
}

function indexHint(side: Side): string {
  return `the index must be below hbDNNGet${side === 'input' ? 'Input' : 'Output'}Count`;
}

function inferCtrlProblem(ctrl: InferCtrlSnapshot): string | undefined {
  for (const key of ['bpuCoreId', 'dspCoreId', 'priority'] as const) {
    if (!isInt32(ctrl[key])) return `inferCtrlParam.${key} must be a 32-bit integer`;
  }
  if (!Number.isSafeInteger(ctrl.customId)) return 'inferCtrlParam.customId must be an integer';
  return undefined;
}

function failTooMany(
  fn: string,
  held: { readonly total: number; readonly finishing: number },
  what: string,
): number {
  return dnnFail(
    HB_DNN_TASK_NUM_EXCEED_LIMIT,
    fn,
    `${held.total} ${what} tasks are live, the board's limit is ${HB_DNN_MAX_LIVE_TASKS}` +
      (held.finishing > 0 ? ` (${held.finishing} released but still running)` : '') +
      ': wait for finished tasks and release them with hbDNNReleaseTask',
  );
}
