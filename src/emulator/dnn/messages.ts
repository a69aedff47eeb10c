/**
 * What the main thread tells the BPU worker about models: the descriptions of model jobs
 * (bpu-queue.ts), as plain data that crosses a MessagePort.
 */

import type { ImageStage } from './preprocess.js';

/** ONNX element types as the ONNX runtime names them. */
export type OrtType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/**
 * Load a model: make its ONNX runtime session, then run it once on zeros of the inputs'
 * shapes. The run warms the session (the runtime's first run is the slow one) and tells the
 * outputs' shapes, which a dynamic ONNX leaves to the input shape the config fixes. The
 * worker writes them into `reply` (see {@link writeLoadReply}).
 */
export interface LoadMessage {
  readonly op: 'load';
  readonly model: number;
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly inputs: readonly LoadInput[];
  readonly reply: SharedArrayBuffer;
}

/** An input of a load's run: the ONNX input, and for an image the input stage's view of it. */
export interface LoadInput {
  readonly name: string;
  readonly type: OrtType;
  readonly dims: readonly number[];
  /** Image inputs: the run feeds a zero image through the input stage, as an infer does. */
  readonly image?: { readonly stage: ImageStage; readonly bytes: number; readonly stride: number };
}

/** What a load's warm-up run made of each output of the graph. */
export interface LoadedOutput {
  readonly name: string;
  readonly type: string;
  readonly dims: readonly number[];
}

/** Room for a load's reply: a length, then JSON (a graph with thousands of outputs fits). */
export const LOAD_REPLY_BYTES = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Worker side: the outputs as the reply (an Int32 length, then UTF-8 JSON). */
export function writeLoadReply(reply: SharedArrayBuffer, outputs: readonly LoadedOutput[]): void {
  const text = encoder.encode(JSON.stringify(outputs));
  if (text.length + 4 > reply.byteLength) {
    throw new Error(`the graph's ${outputs.length} outputs do not fit the load's reply`);
  }
  new Uint8Array(reply, 4).set(text);
  new Int32Array(reply, 0, 1)[0] = text.length;
}

/** Main side, once the load job completed: the outputs the worker wrote. */
export function readLoadReply(reply: SharedArrayBuffer): LoadedOutput[] {
  const n = new Int32Array(reply, 0, 1)[0]!;
  // TextDecoder takes no view of shared memory: copy first.
  const text = new Uint8Array(n);
  text.set(new Uint8Array(reply, 4, n));
  return JSON.parse(decoder.decode(text)) as LoadedOutput[];
}

/** Forget models (their packed handle was released). */
export interface UnloadMessage {
  readonly op: 'unload';
  readonly models: readonly number[];
}

/** An input tensor: where its bytes are and how the model's input stage converts them. */
export type InputFeed = {
  readonly name: string;
  readonly type: OrtType;
  /** The ONNX input's shape. */
  readonly dims: readonly number[];
} & (
  | {
      /** A feature map: the bytes, as the ONNX input declares them. */
      readonly kind: 'featuremap';
      readonly phyAddr: number;
      readonly size: number;
    }
  | {
      readonly kind: 'image';
      readonly stage: ImageStage;
      readonly phyAddr: number;
      /** NV12: the UV plane (after Y, or NV12_SEPARATE's second hbSysMem). */
      readonly uvPhyAddr: number;
      readonly stride: number;
      /** Bytes from phyAddr (Y plane only, for NV12). */
      readonly size: number;
    }
);

/** An output tensor: where its bytes go. */
export interface OutputSink {
  readonly name: string;
  readonly type: OrtType;
  readonly dims: readonly number[];
  readonly phyAddr: number;
  /** Bytes of the output, as the model declares it. */
  readonly size: number;
}

/** One model's run inside a task (a task batches up to 255 with `more`). */
export interface ModelRun {
  readonly model: number;
  readonly inputs: readonly InputFeed[];
  readonly outputs: readonly OutputSink[];
}

/** Run a task: its models, in order. */
export interface InferMessage {
  readonly op: 'infer';
  readonly runs: readonly ModelRun[];
}

export type ModelMessage = LoadMessage | UnloadMessage | InferMessage;

/** Bytes per element of each type. */
export const ORT_TYPE_BYTES: Readonly<Record<OrtType, number>> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
};
