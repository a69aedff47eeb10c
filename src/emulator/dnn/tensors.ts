/**
 * A caller's tensor against what the model (or hbDNNResize) needs: its properties, its
 * memory (live hbSysMem of this machine, large enough for its aligned shape). Reads only
 * the snapshot the front made; every failure records its message and returns the code.
 */

import type { TensorSnapshot } from '../../dnn/backend.js';
import { dnnFail, HB_DNN_INVALID_ARGUMENT } from '../../dnn/status.js';
import {
  HB_DNN_IMG_TYPE_BGR,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_IMG_TYPE_RGB,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_IMG_TYPE_YUV444,
  type hbDNNTensorProperties,
  type hbDNNTensorShape,
} from '../../dnn/types.js';
import {
  hex,
  subRangeOutsideText,
  subRangePhyAddrText,
  subRangeSizeText,
} from '../../handle-errors.js';
import type { Machine } from '../machine.js';
import type { Region } from '../physical-memory.js';

/** One hbSysMem of a tensor, resolved: what the BPU touches. */
export interface TensorMemory {
  readonly phyAddr: number;
  /** Bytes the BPU uses from phyAddr. */
  readonly size: number;
  readonly region: Region;
  readonly offset: number;
}

/** A checked tensor: its memory (one range, two for NV12_SEPARATE) and its row stride. */
export interface CheckedTensor {
  readonly memory: readonly TensorMemory[];
  readonly tensorType: number;
  /** Bytes per row of an image (of its Y plane, or of one plane of a planar image). */
  readonly stride: number;
  readonly valid: readonly number[];
}

const NAMES: Record<number, string> = {
  0: 'IMG_TYPE_Y',
  1: 'IMG_TYPE_NV12',
  2: 'IMG_TYPE_NV12_SEPARATE',
  3: 'IMG_TYPE_YUV444',
  4: 'IMG_TYPE_RGB',
  5: 'IMG_TYPE_BGR',
  6: 'TENSOR_TYPE_S4',
  7: 'TENSOR_TYPE_U4',
  8: 'TENSOR_TYPE_S8',
  9: 'TENSOR_TYPE_U8',
  10: 'TENSOR_TYPE_F16',
  11: 'TENSOR_TYPE_S16',
  12: 'TENSOR_TYPE_U16',
  13: 'TENSOR_TYPE_F32',
  14: 'TENSOR_TYPE_S32',
  15: 'TENSOR_TYPE_U32',
  16: 'TENSOR_TYPE_F64',
  17: 'TENSOR_TYPE_S64',
  18: 'TENSOR_TYPE_U64',
};

export function typeName(t: number): string {
  return NAMES[t] === undefined ? String(t) : `HB_DNN_${NAMES[t]} (${t})`;
}

/** Bytes per element of a tensor type (image types: one byte per sample). */
export function elementBytes(t: number): number {
  if (t <= HB_DNN_IMG_TYPE_BGR || t === 8 || t === 9) return 1;
  if (t === 10 || t === 11 || t === 12) return 2;
  if (t === 13 || t === 14 || t === 15) return 4;
  if (t >= 16 && t <= 18) return 8;
  return 1;
}

export function isImageType(t: number): boolean {
  return t >= HB_DNN_IMG_TYPE_Y && t <= HB_DNN_IMG_TYPE_BGR;
}

/** Whether the row stride of the image may be widened through alignedShape's W. */
function hasRowStride(t: number): boolean {
  return (
    t === HB_DNN_IMG_TYPE_Y || t === HB_DNN_IMG_TYPE_NV12 || t === HB_DNN_IMG_TYPE_NV12_SEPARATE
  );
}

export function dimsOf(s: hbDNNTensorShape): number[] {
  return s.dimensionSize.slice(0, s.numDimensions);
}

const shapeText = (d: readonly number[]) => `(${d.join(', ')})`;

/**
 * The bytes each hbSysMem of a tensor needs, from its type and aligned shape: NV12 is
 * H·Ws·3/2 in one hbSysMem (H·Ws and H·Ws/2 in two for NV12_SEPARATE), Y is H·Ws, others
 * the product of the aligned shape times the element size.
 */
export function bytesNeeded(type: number, valid: readonly number[], aligned: readonly number[]) {
  const h = valid[2] ?? 0;
  const ws = aligned[3] ?? 0;
  if (type === HB_DNN_IMG_TYPE_NV12) return [(h * ws * 3) / 2];
  if (type === HB_DNN_IMG_TYPE_NV12_SEPARATE) return [h * ws, (h * ws) / 2];
  if (type === HB_DNN_IMG_TYPE_Y) return [h * ws];
  return [aligned.reduce((a, b) => a * b, 1) * elementBytes(type)];
}

/** Checks `t` against `expected`; returns the checked tensor or the failure's code. */
export function checkTensor(
  machine: Machine,
  fn: string,
  which: string,
  t: TensorSnapshot,
  expected: hbDNNTensorProperties,
  role: 'input' | 'output',
): CheckedTensor | number {
  const bad = (why: string) => dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `${which}: ${why}`);
  const p = t.properties;
  const type = p.tensorType;
  const want = expected.tensorType;
  const nv12Switch =
    role === 'input' &&
    (want === HB_DNN_IMG_TYPE_NV12 || want === HB_DNN_IMG_TYPE_NV12_SEPARATE) &&
    (type === HB_DNN_IMG_TYPE_NV12 || type === HB_DNN_IMG_TYPE_NV12_SEPARATE);
  if (type !== want && !nv12Switch) {
    return bad(
      `properties.tensorType is ${typeName(type)} but the model's is ${typeName(want)}: copy the ` +
        `properties from hbDNNGet${role === 'input' ? 'Input' : 'Output'}TensorProperties`,
    );
  }
  const valid = dimsOf(p.validShape);
  const wantValid = dimsOf(expected.validShape);
  if (shapeText(valid) !== shapeText(wantValid)) {
    return bad(
      `properties.validShape is ${shapeText(valid)} but the model's is ${shapeText(wantValid)}`,
    );
  }
  if (p.tensorLayout !== expected.tensorLayout) {
    return bad(
      `properties.tensorLayout is ${p.tensorLayout} but the model's is ${expected.tensorLayout}`,
    );
  }
  const aligned = dimsOf(p.alignedShape);
  const wantAligned = dimsOf(expected.alignedShape);
  if (hasRowStride(type) && role === 'input') {
    // The caller lays the image out with its own row stride (aligned W), or as valid.
    const same =
      aligned.length === valid.length && aligned.slice(0, 3).join() === valid.slice(0, 3).join();
    if (!same || aligned[3]! < valid[3]!) {
      return bad(
        `properties.alignedShape ${shapeText(aligned)} does not fit validShape ${shapeText(valid)}: ` +
          'set alignedShape = validShape, or widen only its W to your row stride',
      );
    }
  } else if (shapeText(aligned) !== shapeText(wantAligned)) {
    return bad(
      `properties.alignedShape is ${shapeText(aligned)} but the model's is ${shapeText(wantAligned)}` +
        (role === 'input' ? ': a feature map is laid out (and padded) by its aligned shape' : ''),
    );
  }
  const needs = bytesNeeded(type, valid, aligned);
  if (t.sysMem.length < needs.length) {
    return bad(
      `${typeName(type)} needs ${needs.length} hbSysMem in tensor.sysMem, got ${t.sysMem.length}`,
    );
  }
  const memory: TensorMemory[] = [];
  for (const [i, need] of needs.entries()) {
    const r = resolveMem(machine, fn, `${which}: sysMem[${i}]`, t.sysMem[i]!);
    if (typeof r === 'number') return r;
    if (r.memSize < need) {
      if (machine.sanitizer.on) {
        machine.hazards.tensorTooSmall(fn, r.phyAddr, r.memSize, need, which);
      }
      return bad(
        `sysMem[${i}].memSize is ${r.memSize} but its aligned shape ${shapeText(aligned)} needs ` +
          `${need} bytes (alignedByteSize): allocate it with properties.alignedByteSize bytes`,
      );
    }
    memory.push({ phyAddr: r.phyAddr, size: need, region: r.region, offset: r.offset });
  }
  if (type === HB_DNN_IMG_TYPE_NV12) {
    // One hbSysMem: Y then UV; the model reads them as two ranges.
    const m = memory[0]!;
    const y = m.size / 1.5;
    memory[0] = { ...m, size: y };
    memory.push({ ...m, phyAddr: m.phyAddr + y, offset: m.offset + y, size: y / 2 });
  }
  return { memory, tensorType: type, stride: rowStride(type, p.tensorLayout, aligned), valid };
}

export function rowStride(type: number, layout: number, aligned: readonly number[]): number {
  if (hasRowStride(type)) return aligned[3]!;
  if (
    type === HB_DNN_IMG_TYPE_RGB ||
    type === HB_DNN_IMG_TYPE_BGR ||
    type === HB_DNN_IMG_TYPE_YUV444
  ) {
    return layout === 0 ? aligned[2]! * 3 : aligned[3]!; // NHWC rows hold 3 bytes a pixel
  }
  return 0;
}

/** Where a tensor's hbSysMem starts in memory, and its memSize. */
interface ResolvedMem {
  readonly phyAddr: number;
  readonly region: Region;
  /** Of the mem's first byte in its region. */
  readonly offset: number;
  readonly memSize: number;
}

const byteOffsetOf = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  'byteOffset',
)!.get! as (this: Uint8Array) => number;

/**
 * A snapshot's hbSysMem, live on this machine, with its memSize. A sub-range mem (a crop:
 * `phyAddr + off`, `virAddr.subarray(off)`, memSize to at most the mapping's end) is taken
 * as the board takes it: the tensor starts where the crop does.
 */
function resolveMem(
  machine: Machine,
  fn: string,
  which: string,
  s: TensorSnapshot['sysMem'][number],
): ResolvedMem | number {
  const bad = (why: string) => dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `${which}: ${why}`);
  const view = s.virAddr;
  if (view === null || view === undefined) {
    return bad(
      'virAddr is null: it was freed or unregistered, or never filled; allocate it with ' +
        'hbSysAllocCachedMem(tensor.sysMem[i], properties.alignedByteSize)',
    );
  }
  const m = view instanceof Uint8Array ? machine.mappingOf(view) : undefined;
  if (m === undefined) {
    return bad(
      'virAddr is not a mapping made by hbSysAllocMem, hbSysAllocCachedMem or hbSysRegisterMem ' +
        '(of this emulator since its last reset): pass the hbSysMem those calls filled',
    );
  }
  if (!m.live) {
    machine.hazards.ended(fn, m);
    return bad(
      `stale hbSysMem: the memory at 0x${hex(m.phyAddr)} it refers to was ` +
        `${m.kind === 'registration' ? 'unregistered' : 'freed'}; allocate the tensor anew`,
    );
  }
  const at =
    m.view === null ? 0 : byteOffsetOf.call(view as Uint8Array) - byteOffsetOf.call(m.view);
  if (at < 0 || at >= m.size) {
    return bad(subRangeOutsideText(m.phyAddr, m.size));
  }
  if (typeof s.phyAddr !== 'bigint' || s.phyAddr !== BigInt(m.phyAddr + at)) {
    return bad(
      at === 0
        ? `phyAddr (${String(s.phyAddr)}) does not match its mapping at 0x${hex(m.phyAddr)}: ` +
            'do not change phyAddr'
        : subRangePhyAddrText(s.phyAddr, m.phyAddr, at),
    );
  }
  const n = s.memSize;
  const room = m.size - at;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > room) {
    return bad(
      at === 0
        ? `memSize must be an integer in 1 … ${m.size} (the size of the memory), got ${String(n)}`
        : subRangeSizeText(m.phyAddr, m.size, at, n),
    );
  }
  return { phyAddr: m.phyAddr + at, region: m.region, offset: m.offset + at, memSize: n };
}

/** An image tensor of hbDNNResize, checked against its own properties. */
export interface CheckedImage extends CheckedTensor {
  readonly width: number;
  readonly height: number;
  /** 3-channel images: NHWC (packed) or NCHW (planar). */
  readonly packed: boolean;
}

/** Checks an hbDNNResize tensor: an image type, 4-D batch 1, memory large enough. */
export function checkImageTensor(
  machine: Machine,
  fn: string,
  which: string,
  t: TensorSnapshot,
): CheckedImage | number {
  const bad = (why: string) => dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `${which}: ${why}`);
  const p = t.properties;
  const type = p.tensorType;
  if (!isImageType(type)) {
    return bad(
      `properties.tensorType must be an image type (HB_DNN_IMG_TYPE_*), got ${typeName(type)}`,
    );
  }
  const valid = dimsOf(p.validShape);
  const aligned = dimsOf(p.alignedShape);
  const three =
    type === HB_DNN_IMG_TYPE_RGB || type === HB_DNN_IMG_TYPE_BGR || type === HB_DNN_IMG_TYPE_YUV444;
  const packed = three && p.tensorLayout === 0;
  if (three && p.tensorLayout !== 0 && p.tensorLayout !== 2) {
    return bad(`a 3-channel image needs tensorLayout NHWC (0) or NCHW (2), got ${p.tensorLayout}`);
  }
  const channels = type === HB_DNN_IMG_TYPE_Y ? 1 : 3;
  const wantValid = packed ? '(1, H, W, 3)' : `(1, ${channels}, H, W)`;
  const [c, h, w] = packed ? [valid[3], valid[1], valid[2]] : [valid[1], valid[2], valid[3]];
  if (valid.length !== 4 || valid[0] !== 1 || c !== channels) {
    return bad(`properties.validShape must be ${wantValid}, got ${shapeText(valid)}`);
  }
  if (
    aligned.length !== 4 ||
    aligned.slice(0, 3).join() !== valid.slice(0, 3).join() ||
    aligned[3]! < valid[3]!
  ) {
    return bad(
      `properties.alignedShape ${shapeText(aligned)} does not fit validShape ${shapeText(valid)}: ` +
        'make it equal, or widen only its last dimension',
    );
  }
  if (three && packed && aligned[3] !== 3) {
    return bad('properties.alignedShape of a packed (NHWC) image must end in 3');
  }
  const needs = bytesNeeded(three ? 9 : type, valid, aligned);
  if (t.sysMem.length < needs.length) {
    return bad(
      `${typeName(type)} needs ${needs.length} hbSysMem in tensor.sysMem, got ${t.sysMem.length}`,
    );
  }
  const memory: TensorMemory[] = [];
  for (const [i, need] of needs.entries()) {
    const r = resolveMem(machine, fn, `${which}: sysMem[${i}]`, t.sysMem[i]!);
    if (typeof r === 'number') return r;
    if (r.memSize < need) {
      if (machine.sanitizer.on) {
        machine.hazards.tensorTooSmall(fn, r.phyAddr, r.memSize, need, which);
      }
      return bad(
        `sysMem[${i}].memSize is ${r.memSize} but its aligned shape ${shapeText(aligned)} needs ${need} bytes`,
      );
    }
    memory.push({ phyAddr: r.phyAddr, size: need, region: r.region, offset: r.offset });
  }
  if (type === HB_DNN_IMG_TYPE_NV12) {
    const m = memory[0]!;
    const y = m.size / 1.5;
    memory[0] = { ...m, size: y };
    memory.push({ ...m, phyAddr: m.phyAddr + y, offset: m.offset + y, size: y / 2 });
  }
  return {
    memory,
    tensorType: type,
    stride: rowStride(type, p.tensorLayout, aligned),
    valid,
    width: w!,
    height: h!,
    packed,
  };
}
