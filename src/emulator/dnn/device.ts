/**
 * Models on the BPU, worker side: the ONNX runtime's sessions, and a task's run. A run
 * reads each input tensor from physical memory (the BPU has no cache), converts it as the
 * compiled model's input stage does (preprocess.ts), runs the ONNX graph, and writes each
 * output to physical memory in the layout the tensor properties give.
 */

import type { AddressResolver } from '../kernels/kernel.js';
import {
  type InputFeed,
  type LoadMessage,
  type ModelMessage,
  type ModelRun,
  ORT_TYPE_BYTES,
  type OrtType,
  writeLoadReply,
} from './messages.js';
import { loadOrt, type Ort, type OrtSession, type OrtTensor } from './onnx-runtime.js';
import { imageToTensor } from './preprocess.js';

/** Loaded models' sessions, by model id, and the thread that loaded each. */
const sessions = new Map<number, { readonly session: OrtSession; readonly thread: number }>();

/** Sessions held (models loaded and not unloaded). */
export function liveSessions(): number {
  return sessions.size;
}

/**
 * Unloads the models `thread` loaded: it ended, and nothing can release them any more.
 * Called between jobs (none of its runs is under way).
 */
export async function unloadThread(thread: number): Promise<void> {
  for (const [id, s] of sessions) if (s.thread === thread) await unload(id);
}

/** Releases the session of model `id`, if it is loaded. */
async function unload(id: number): Promise<void> {
  const s = sessions.get(id);
  if (s === undefined) return;
  sessions.delete(id);
  await s.session.release().catch(() => {});
}

/**
 * Runs one model job of `thread`. Throws (a device fault, with the reason) when it cannot.
 */
export async function runModelJob(
  message: unknown,
  resolve: AddressResolver,
  thread: number,
): Promise<void> {
  const m = message as ModelMessage;
  switch (m.op) {
    case 'load': {
      const ort = await loadOrt();
      let session: OrtSession;
      try {
        session = await ort.InferenceSession.create(m.bytes);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new Error(`the ONNX runtime cannot run ${m.file}: ${why}`);
      }
      try {
        writeLoadReply(m.reply, await warmUp(ort, session, m));
      } catch (error) {
        await session.release().catch(() => {});
        throw error;
      }
      sessions.set(m.model, { session, thread });
      return;
    }
    case 'unload':
      for (const id of m.models) await unload(id);
      return;
    case 'infer': {
      const ort = await loadOrt();
      for (const run of m.runs) await runModel(ort, run, resolve);
      return;
    }
  }
}

/** Runs on zeros of the inputs' shapes (see LoadMessage): the outputs they make. */
async function warmUp(ort: Ort, session: OrtSession, m: LoadMessage) {
  const feeds: Record<string, OrtTensor> = {};
  for (const input of m.inputs) {
    const n = input.dims.reduce((a, b) => a * b, 1);
    const image = input.image;
    const data =
      image === undefined
        ? typedView(input.type, new ArrayBuffer(n * ORT_TYPE_BYTES[input.type]))
        : imageToTensor(image.stage, {
            plane: new Uint8Array(image.bytes),
            offset: 0,
            stride: image.stride,
          });
    feeds[input.name] = new ort.Tensor(input.type, data, input.dims);
  }
  let results: Record<string, OrtTensor>;
  try {
    // Twice: the first run prepares the runtime's kernels; the engine then tiers up the
    // WebAssembly they run, and the second run takes most of what remains of that cost
    // (measured on the demo's detector: the first infer after load is 1.1 to 2x a later one
    // with two runs, 1.6 to 2.8x with one, about 14x without).
    results = await session.run(feeds);
    results = await session.run(feeds);
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).trim();
    const shapes = m.inputs.map((x) => `'${x.name}' (${x.dims.join(', ')})`).join(', ');
    throw new Error(
      `the ONNX runtime cannot run it on inputs of the shapes the model takes, ${shapes}: ` +
        `${why}. Check the config's input_shape against the model`,
    );
  }
  return Object.entries(results).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] }));
}

async function runModel(ort: Ort, run: ModelRun, resolve: AddressResolver): Promise<void> {
  const session = sessions.get(run.model)?.session;
  if (session === undefined) {
    throw new Error(
      `model #${run.model} is not loaded on this BPU (its worker was restarted after a fault): ` +
        'release the model and load it again',
    );
  }
  const feeds: Record<string, OrtTensor> = {};
  for (const input of run.inputs) {
    feeds[input.name] = new ort.Tensor(input.type, readInput(input, resolve), input.dims);
  }
  const results = await session.run(feeds);
  for (const out of run.outputs) {
    const t = results[out.name];
    if (t === undefined) throw new Error(`the model produced no output '${out.name}'`);
    const data = t.data;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength !== out.size || t.type !== out.type) {
      throw new Error(
        `output '${out.name}' came out as ${t.type} [${t.dims.join(', ')}], but at load it ` +
          `came out as ${out.type} [${out.dims.join(', ')}]: its shape depends on the input's ` +
          'values, and a compiled model has static shapes; export the ONNX so that it does not',
      );
    }
    const d = resolve(out.phyAddr, out.size);
    d.plane.set(bytes, d.offset);
  }
}

/** The input's ONNX tensor data, from physical memory. */
function readInput(input: InputFeed, resolve: AddressResolver): ArrayBufferView {
  if (input.kind === 'featuremap') {
    const s = resolve(input.phyAddr, input.size);
    // A copy: the runtime keeps no view of memory that the CPU may change afterwards.
    const copy = new Uint8Array(input.size);
    copy.set(s.plane.subarray(s.offset, s.offset + input.size));
    return typedView(input.type, copy.buffer);
  }
  const y = resolve(input.phyAddr, input.size);
  const uvBytes = input.stage.rt === 'nv12' ? input.size / 2 : 0;
  const uv = uvBytes > 0 ? resolve(input.uvPhyAddr, uvBytes) : undefined;
  return imageToTensor(input.stage, {
    plane: y.plane,
    offset: y.offset,
    uvPlane: uv?.plane,
    uvOffset: uv?.offset,
    stride: input.stride,
  });
}

function typedView(type: OrtType, buffer: ArrayBuffer): ArrayBufferView {
  const n = buffer.byteLength / ORT_TYPE_BYTES[type];
  switch (type) {
    case 'float32':
      return new Float32Array(buffer, 0, n);
    case 'float64':
      return new Float64Array(buffer, 0, n);
    case 'float16':
    case 'uint16':
      return new Uint16Array(buffer, 0, n);
    case 'int8':
      return new Int8Array(buffer, 0, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, 0, n);
    case 'int16':
      return new Int16Array(buffer, 0, n);
    case 'int32':
      return new Int32Array(buffer, 0, n);
    case 'uint32':
      return new Uint32Array(buffer, 0, n);
    case 'int64':
      return new BigInt64Array(buffer, 0, n);
    case 'uint64':
      return new BigUint64Array(buffer, 0, n);
  }
}
