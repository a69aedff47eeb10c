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

/** Load a model: make its ONNX runtime session. */
export interface LoadMessage {
  readonly op: 'load';
  readonly model: number;
  readonly file: string;
  readonly bytes: Uint8Array;
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
