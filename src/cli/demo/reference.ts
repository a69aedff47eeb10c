/**
 * The check of the demo: the same detector run directly by the ONNX runtime (onnxruntime-web,
 * one thread, in this thread), on the same NV12 bytes, converted on the CPU as the config
 * says the compiled model does: NV12 → BGR (BT.601 full range, each colour rounded to a
 * byte, chroma repeated over its 2x2 pixels) → (x − mean)·scale → NCHW float32.
 */

import { readFileSync } from 'node:fs';
import { MEAN, RUNTIME_PACKAGE, SCALE } from './detector.js';

interface OrtTensor {
  readonly data: ArrayBufferView;
  readonly dims: readonly number[];
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: { wasm: { numThreads?: number; proxy?: boolean }; logLevel?: string };
  InferenceSession: { create(bytes: Uint8Array): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => OrtTensor;
}

/** The ONNX runtime in this thread, one thread of WebAssembly (no proxy worker). */
export async function loadRuntime(): Promise<Ort> {
  const specifier: string = RUNTIME_PACKAGE; // a variable: it is an optional dependency
  const mod = (await import(specifier)) as Ort & { default?: Ort };
  const ort = mod.InferenceSession === undefined && mod.default !== undefined ? mod.default : mod;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return ort;
}

const byte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** The detector's input tensor from an NV12 image (`width`×`height`, tightly packed). */
export function nv12ToBgrInput(nv12: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const Y = nv12[y * width + x]!;
      const uv = plane + (y >> 1) * width + (x & ~1);
      const d = nv12[uv]! - 128;
      const e = nv12[uv + 1]! - 128;
      const at = y * width + x;
      const bgr = [byte(Y + 1.772 * d), byte(Y - 0.344136 * d - 0.714136 * e), byte(Y + 1.402 * e)];
      for (let c = 0; c < 3; c++) out[c * plane + at] = (bgr[c]! - MEAN[c]!) * SCALE[c]!;
    }
  }
  return out;
}

/** A session of the package's detector, run directly. */
export class ReferenceDetector {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
  ) {}

  static async load(onnxFile: string): Promise<ReferenceDetector> {
    const ort = await loadRuntime();
    const session = await ort.InferenceSession.create(readFileSync(onnxFile));
    return new ReferenceDetector(ort, session);
  }

  /** The probability map for an NV12 image. */
  async run(nv12: Uint8Array, width: number, height: number): Promise<Float32Array> {
    const x = new this.ort.Tensor('float32', nv12ToBgrInput(nv12, width, height), [
      1,
      3,
      height,
      width,
    ]);
    const out = await this.session.run({ [this.session.inputNames[0]!]: x });
    return out[this.session.outputNames[0]!]!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
