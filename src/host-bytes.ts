/**
 * Host bytes (typed arrays, DataViews, ArrayBuffers) read through the engine's own
 * accessors, never the object's.
 *
 * A caller's typed array can shadow `buffer`, `byteOffset` or `byteLength` with its own
 * getters, be a Proxy that passes `instanceof`, or sit on a resizable ArrayBuffer that a
 * getter elsewhere shrinks. So the intrinsic getters of %TypedArray%.prototype, DataView and
 * ArrayBuffer are captured once, here, and the result is a fixed-length Uint8Array made by
 * hbsys: it never grows or shrinks with its buffer (it goes out of bounds instead, with a
 * byteLength of 0, which {@link bytesLeft} sees).
 */

import { types } from 'node:util';

type Getter = (this: unknown) => unknown;

function intrinsic(proto: object, key: string): Getter {
  return Object.getOwnPropertyDescriptor(proto, key)!.get as Getter;
}

const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const taBuffer = intrinsic(typedArrayProto, 'buffer');
const taByteOffset = intrinsic(typedArrayProto, 'byteOffset');
const taByteLength = intrinsic(typedArrayProto, 'byteLength');
const dvBuffer = intrinsic(DataView.prototype, 'buffer');
const dvByteOffset = intrinsic(DataView.prototype, 'byteOffset');
const dvByteLength = intrinsic(DataView.prototype, 'byteLength');
const abByteLength = intrinsic(ArrayBuffer.prototype, 'byteLength');
const sabByteLength = intrinsic(SharedArrayBuffer.prototype, 'byteLength');

const taKeys = (typedArrayProto as { keys: Getter }).keys;
const taTag = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)!.get as Getter;

const call = (getter: Getter, target: unknown) => Reflect.apply(getter, target, []);

const DETACHED = 'detached or out of bounds: its ArrayBuffer was transferred or shrunk';

/**
 * Whether a typed array of length 0 is really empty rather than detached or left out of
 * bounds by a shrunk buffer (which also read as length 0): the engine's own validation,
 * through a method that checks and changes nothing.
 */
function isInBounds(x: unknown): boolean {
  try {
    call(taKeys, x);
    return true;
  } catch {
    return false;
  }
}

/**
 * A fixed-length Uint8Array over the bytes of `x`, made by hbsys, or the reason `x` is not
 * usable host bytes (a string). Calls no code of the caller's.
 */
export function hostBytes(x: unknown): Uint8Array | string {
  let buffer: ArrayBufferLike;
  let offset: number;
  let length: number;
  // The engine's toStringTag getter: a typed array's name, undefined for anything else
  // (a Proxy, a DataView, an impostor with a typed-array prototype), and never a throw.
  if (call(taTag, x) !== undefined) {
    buffer = call(taBuffer, x) as ArrayBufferLike;
    offset = call(taByteOffset, x) as number;
    length = call(taByteLength, x) as number;
    if (length === 0 && !isInBounds(x)) return DETACHED;
  } else if (types.isDataView(x)) {
    try {
      buffer = call(dvBuffer, x) as ArrayBufferLike;
      offset = call(dvByteOffset, x) as number;
      length = call(dvByteLength, x) as number;
    } catch {
      // A DataView's accessors throw once its buffer is detached or it is out of bounds.
      return DETACHED;
    }
  } else if (types.isArrayBuffer(x)) {
    buffer = x;
    offset = 0;
    length = call(abByteLength, x) as number;
  } else if (types.isSharedArrayBuffer(x)) {
    buffer = x;
    offset = 0;
    length = call(sabByteLength, x) as number;
  } else {
    return 'not an ArrayBuffer, typed array or DataView';
  }
  try {
    return new Uint8Array(buffer, offset, length);
  } catch {
    // A detached buffer, or a view that a shrunk resizable buffer left out of bounds.
    return DETACHED;
  }
}

/**
 * How many bytes `bytes` (made by {@link hostBytes}) still holds: its length, or 0 once its
 * buffer was detached or shrunk past it. Checked just before a copy of a length fixed earlier.
 */
export function bytesLeft(bytes: Uint8Array): number {
  return call(taByteLength, bytes) as number;
}

/** The ArrayBuffer under `bytes`, through the intrinsic accessor. */
export function bufferOf(bytes: Uint8Array): ArrayBufferLike {
  return call(taBuffer, bytes) as ArrayBufferLike;
}
