/**
 * A model's tensor as an object: its properties, its hbSys memory (as idiomatic buffers), and
 * `write`/`read` of dense arrays that put each element where the properties say (alignment
 * padding, row stride, NV12 planes), typed by `tensorType`.
 *
 * @example
 * ```ts
 * using input = allocateTensor(model.inputs[0].properties);
 * input.write(nv12Frame);                 // dense W·H·3/2 bytes, laid out by alignedShape
 * using output = allocateTensor(model.outputs[0].properties);
 * await model.infer([input], [output]);   // CLEAN, infer, wait, INVALIDATE
 * const scores = output.read();           // Float32Array of validShape's elements
 * ```
 */

import { currentBackend } from '../backend.js';
import { allocate, HbSysBuffer } from '../buffer.js';
import { describe } from '../describe.js';
import { readProperties } from '../dnn/read.js';
import { HB_DNN_INVALID_ARGUMENT } from '../dnn/status.js';
import type { hbDNNTensor, hbDNNTensorProperties } from '../dnn/types.js';
import { rawVirAddr } from '../mem.js';
import { snapshotMem } from '../snapshot.js';
import { type ElementType, elementType, type TensorData } from './element.js';
import { HbDNNError } from './error.js';
import { gather, LayoutError, scatter, type TensorLayout, tensorLayout } from './layout.js';

/** Options of {@link allocateTensor}. */
export interface TensorOptions {
  /** CPU access through the cache (the board's usual choice). Default true. */
  cached?: boolean;
  /** A name for the memory in stats, dumps and findings. */
  label?: string;
}

const bad = (message: string) => new HbDNNError(HB_DNN_INVALID_ARGUMENT, message);

/** A tensor: memory and properties, usable with the idiomatic and the C-style calls. */
export class DnnTensor implements Disposable {
  /** The tensor for the C-style calls (`hbDNNInfer(task, [t.tensor], …)`). */
  readonly tensor: hbDNNTensor;
  /** Its memory: one buffer, two for NV12_SEPARATE. */
  readonly buffers: readonly HbSysBuffer[];
  /** Elements of the dense array that `read` returns and `write` takes. */
  readonly length: number;
  readonly #layout: TensorLayout;
  readonly #element: ElementType;
  readonly #owned: boolean;
  #freed = false;

  /** @internal Use {@link allocateTensor} or {@link wrapTensor}. */
  constructor(
    properties: hbDNNTensorProperties,
    buffers: readonly HbSysBuffer[],
    layout: TensorLayout,
    element: ElementType,
    owned: boolean,
  ) {
    this.buffers = Object.freeze([...buffers]);
    this.tensor = { sysMem: buffers.map((b) => b.mem), properties };
    this.length = layout.length;
    this.#layout = layout;
    this.#element = element;
    this.#owned = owned;
  }

  /** The properties the tensor was made with (the object `tensor.properties`). */
  get properties(): hbDNNTensorProperties {
    return this.tensor.properties;
  }

  /** validShape's dimensions. */
  get shape(): readonly number[] {
    return this.#layout.valid;
  }

  /** Whether free() ran (or a buffer was freed on its own). */
  get freed(): boolean {
    return this.#freed || this.buffers.some((b) => b.freed);
  }

  /**
   * Writes `data` (the dense validShape elements, row-major: a typed array of this tensor's
   * type, or plain numbers) into the memory, each element where the layout puts it. No
   * flush: `model.infer` CLEANs inputs (or call clean()).
   */
  write(data: TensorData | ArrayLike<number> | ArrayLike<bigint>): this {
    const mems = this.mappings('write');
    const array = this.#element.array;
    let typed: TensorData;
    if (ArrayBuffer.isView(data)) {
      if (!(data instanceof array)) {
        throw bad(
          `write: this ${this.#element.name} tensor takes a ${array.name}, got a ` +
            `${(data as object).constructor.name}`,
        );
      }
      typed = data as TensorData;
    } else if (Array.isArray(data)) {
      try {
        typed = (array as unknown as { from(x: unknown): TensorData }).from(data);
      } catch (error) {
        throw bad(`write: the elements do not fit a ${array.name}: ${(error as Error).message}`);
      }
    } else {
      throw bad(
        `write: data must be a ${array.name} or an array of numbers, got ${describe(data)}`,
      );
    }
    if (typed.length !== this.length) {
      throw bad(
        `write: validShape (${this.shape.join(', ')}) holds ${this.length} elements, got ` +
          `${typed.length}${this.#layout.kind === 'strided' ? '' : ' (NV12: W·H·3/2 bytes)'}`,
      );
    }
    scatter(this.#layout, new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength), mems);
    return this;
  }

  /**
   * Reads the dense validShape elements into a new array of this tensor's type (or into
   * `into`). No flush: `model.infer` INVALIDATEs outputs (or call invalidate()).
   */
  read<T extends TensorData = TensorData>(into?: T): T {
    const mems = this.mappings('read');
    const out = into ?? (new this.#element.array(this.length) as T);
    if (!(out instanceof this.#element.array) || out.length !== this.length) {
      throw bad(
        `read: into must be a ${this.#element.array.name} of ${this.length} elements, got ${describe(out)}`,
      );
    }
    const backend = currentBackend();
    for (const [i, b] of this.buffers.entries()) {
      const snap = snapshotMem(b.mem);
      if (!('error' in snap))
        backend.noteCpuRead?.(snap, 0, this.#layout.memBytes[i]!, 'tensor.read');
    }
    gather(this.#layout, mems, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return out;
  }

  /** CLEAN every cached buffer: after the CPU writes, before the BPU reads. */
  clean(): this {
    this.mappings('clean');
    for (const b of this.buffers) if (b.cached) b.clean();
    return this;
  }

  /** INVALIDATE every cached buffer: after the BPU writes, before the CPU reads. */
  invalidate(): this {
    this.mappings('invalidate');
    for (const b of this.buffers) if (b.cached) b.invalidate();
    return this;
  }

  /** Frees the memory (a wrapped tensor leaves its buffers to their owner). A second call throws. */
  free(): void {
    if (this.#freed) throw bad('free: this tensor was freed; allocate a new one');
    // The buffers first: memory a task still holds refuses (HbSysError), and the tensor
    // stays live, to free after the task's wait.
    if (this.#owned) for (const b of this.buffers) if (!b.freed) b.free();
    this.#freed = true;
  }

  /** Frees the tensor at the end of a `using` block; nothing if it is freed already. */
  [Symbol.dispose](): void {
    if (!this.#freed) this.free();
  }

  private mappings(op: string): Uint8Array[] {
    if (this.#freed) throw bad(`${op}: this tensor was freed; allocate a new one`);
    return this.buffers.map((b, i) => {
      const v = b.freed ? null : rawVirAddr(b.mem);
      if (v === null || v === undefined) {
        throw bad(`${op}: buffer ${i} of this tensor was freed; allocate the tensor anew`);
      }
      return v;
    });
  }
}

/** Reads and checks properties once; the layout and element type they imply. */
function prepare(properties: unknown) {
  let p: hbDNNTensorProperties;
  try {
    p = readProperties(properties, 'properties');
  } catch (error) {
    throw bad(`${(error as Error).message}`);
  }
  const element = elementType(p.tensorType);
  if (typeof element === 'string') throw bad(element);
  let layout: TensorLayout;
  try {
    layout = tensorLayout(p, element);
  } catch (error) {
    if (error instanceof LayoutError) throw bad(`properties: ${error.message}`);
    throw error;
  }
  return { p, element, layout };
}

/**
 * Allocates a tensor for `properties` (from `model.inputs[i].properties`, or
 * hbDNNGet…TensorProperties): each hbSysMem gets at least `alignedByteSize` bytes, and more
 * when a caller-widened row stride needs them. Throws HbDNNError for bad properties and
 * HbSysError when the memory cannot be had.
 */
export function allocateTensor(
  properties: hbDNNTensorProperties,
  options: TensorOptions = {},
): DnnTensor {
  const { p, element, layout } = prepare(properties);
  if (typeof options !== 'object' || options === null) {
    throw bad(`allocateTensor: options must be an object, got ${describe(options)}`);
  }
  const cached = options.cached ?? true;
  const label = options.label;
  const buffers: HbSysBuffer[] = [];
  try {
    for (const [i, need] of layout.memBytes.entries()) {
      const size = i === 0 ? Math.max(need, p.alignedByteSize) : need;
      buffers.push(allocate(size, { cached, label }));
    }
  } catch (error) {
    for (const b of buffers) b.free();
    throw error;
  }
  return new DnnTensor(p, buffers, layout, element, true);
}

/**
 * A tensor over memory the caller owns (a registered camera frame, a buffer shared with
 * another stage): free() and `using` leave the buffers alone.
 */
export function wrapTensor(
  properties: hbDNNTensorProperties,
  buffers: readonly HbSysBuffer[],
): DnnTensor {
  const { p, element, layout } = prepare(properties);
  // One read of the caller's array: the buffers checked are the buffers used.
  const list: unknown[] | undefined = Array.isArray(buffers) ? [...buffers] : undefined;
  if (list === undefined || list.length !== layout.memBytes.length) {
    throw bad(
      `wrapTensor: this tensor needs ${layout.memBytes.length} buffer(s), got ${describe(buffers)}`,
    );
  }
  for (const [i, b] of list.entries()) {
    if (!(b instanceof HbSysBuffer) || b.freed) {
      throw bad(`wrapTensor: buffers[${i}] must be a live HbSysBuffer, got ${describe(b)}`);
    }
    if (b.size < layout.memBytes[i]!) {
      throw bad(
        `wrapTensor: buffers[${i}] holds ${b.size} bytes; this tensor's layout needs ${layout.memBytes[i]}`,
      );
    }
  }
  return new DnnTensor(p, list as HbSysBuffer[], layout, element, false);
}
