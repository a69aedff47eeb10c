/**
 * Small ONNX models for the tests, built with onnx-proto, and the files the emulator reads
 * (the ONNX and, when given, its conversion config). Not a test file.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
// onnx-proto is CommonJS with generated protobufjs classes.
const { onnx } = require('onnx-proto') as { onnx: OnnxProto };

interface OnnxProto {
  ModelProto: {
    create(x: unknown): unknown;
    encode(m: unknown): { finish(): Uint8Array };
  };
  TensorProto: { create(x: unknown): unknown };
}

/** ONNX element types. */
export const FLOAT = 1;
export const INT64 = 7;

export interface ValueSpec {
  name: string;
  dims: (number | string)[];
  type?: number;
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: { name: string; ints?: number[]; i?: number; f?: number }[];
}

export interface ModelSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: { name: string; dims: number[]; values: number[] }[];
  graphName?: string;
}

function valueInfo(v: ValueSpec) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.type ?? FLOAT,
        shape: {
          dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

/** The bytes of an ONNX model (opset 13). */
export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'hbsys-tests',
    graph: {
      name: spec.graphName ?? 'g',
      node: spec.nodes.map((n) => ({
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: (n.attributes ?? []).map((a) =>
          a.ints !== undefined
            ? { name: a.name, type: 7, ints: a.ints }
            : a.f !== undefined
              ? { name: a.name, type: 1, f: a.f }
              : { name: a.name, type: 2, i: a.i },
        ),
      })),
      initializer: (spec.initializers ?? []).map((t) =>
        onnx.TensorProto.create({
          name: t.name,
          dims: t.dims,
          dataType: FLOAT,
          floatData: t.values,
        }),
      ),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** y = 2·x + 1 over a feature map of `dims`. */
export function affineModel(dims: (number | string)[], name = 'x', out = 'y'): Uint8Array {
  return buildModel({
    inputs: [{ name, dims }],
    outputs: [{ name: out, dims }],
    initializers: [
      { name: 'two', dims: [], values: [2] },
      { name: 'one', dims: [], values: [1] },
    ],
    nodes: [
      { op: 'Mul', inputs: [name, 'two'], outputs: ['t'] },
      { op: 'Add', inputs: ['t', 'one'], outputs: [out] },
    ],
  });
}

/** The identity on an image input of (1, C, H, W) (NCHW) or (1, H, W, C) (NHWC). */
export function identityModel(dims: number[], name = 'image', out = 'out'): Uint8Array {
  return buildModel({
    inputs: [{ name, dims }],
    outputs: [{ name: out, dims }],
    nodes: [{ op: 'Identity', inputs: [name], outputs: [out] }],
  });
}

/**
 * x·x·…·x, `products` matrix products of an (n, n) input: about 15 ms a run at the defaults
 * on a desktop core (about 0.4 s under qemu), for tests that need the BPU busy for a while
 * at the cost of one submission.
 */
export function chainModel(n = 192, products = 6): Uint8Array {
  const names = Array.from({ length: products }, (_, i) => (i === products - 1 ? 'y' : `t${i}`));
  return buildModel({
    inputs: [{ name: 'x', dims: [n, n] }],
    outputs: [{ name: 'y', dims: [n, n] }],
    nodes: names.map((out, i) => ({
      op: 'MatMul',
      inputs: [i === 0 ? 'x' : names[i - 1]!, 'x'],
      outputs: [out],
    })),
  });
}

/** A fresh directory for model files. */
export function modelDir(): string {
  return mkdtempSync(join(tmpdir(), 'hbsys-models-'));
}

/** Writes `name.onnx` (and `name.yaml` with `config` when given) in `dir`; returns the ONNX path. */
export function writeModel(dir: string, name: string, bytes: Uint8Array, config?: string): string {
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, bytes);
  if (config !== undefined) writeFileSync(join(dir, `${name}.yaml`), config);
  return file;
}
