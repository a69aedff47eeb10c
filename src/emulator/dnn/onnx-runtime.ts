/**
 * The ONNX runtime (`onnxruntime-web`, WebAssembly), loaded lazily: only in the BPU worker,
 * only when the first model is loaded. It is an optional dependency: where it is missing,
 * the model functions fail with a message that names the install command, and the rest of
 * hbsys works without it.
 */

import { createRequire } from 'node:module';

/** The package, and the command that installs it. */
export const ORT_PACKAGE = 'onnxruntime-web';
export const ORT_INSTALL = `npm install ${ORT_PACKAGE}`;

/** The part of the ONNX runtime's API that hbsys uses. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: ArrayBufferView;
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  readonly env: {
    wasm: { numThreads?: number; proxy?: boolean };
    logLevel?: string;
  };
  readonly InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  readonly Tensor: new (type: string, data: ArrayBufferView, dims: readonly number[]) => OrtTensor;
}

/**
 * Why the ONNX runtime cannot be had, or undefined when it can: a cheap check (module
 * resolution, no loading) that the main thread makes before it sends a model to the worker.
 */
export function ortMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve(ORT_PACKAGE);
    return undefined;
  } catch {
    return (
      `the emulator runs models with the ONNX runtime, and ${ORT_PACKAGE} is not installed: ` +
      `run \`${ORT_INSTALL}\` (an optional dependency of hbsys)`
    );
  }
}

let loading: Promise<Ort> | undefined;

/** The runtime, one thread, in this thread (no proxy worker). */
export function loadOrt(): Promise<Ort> {
  loading ??= (async () => {
    // A variable specifier: TypeScript must not need the optional package to compile.
    const specifier: string = ORT_PACKAGE;
    let ort: Ort;
    try {
      const mod = (await import(specifier)) as { default?: Ort } & Ort;
      ort = mod.InferenceSession === undefined && mod.default !== undefined ? mod.default : mod;
    } catch (error) {
      loading = undefined;
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`${ORT_PACKAGE} could not be loaded (${why}): run \`${ORT_INSTALL}\``);
    }
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    return ort;
  })();
  return loading;
}
