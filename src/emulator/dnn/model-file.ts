/**
 * The files of a model on the emulator: the ONNX (for `x.bin`, the board's compiled model,
 * the `x.onnx` beside it; `x.onnx` itself otherwise) and, when there is one, the conversion
 * config beside it with the same base name (`x.yaml` or `x.yml`). Reads them and works out
 * the compiled model's interface, but for the outputs' shapes: those come from the model's
 * load run ({@link resolveOutputs}), since a dynamic ONNX leaves them to the input shape.
 */

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError, type ModelConfig, parseConfig } from './config.js';
import type { LoadedOutput } from './messages.js';
import { NotOnnxError, type OnnxValue, readOnnxIo } from './onnx-io.js';
import {
  checkOutput,
  featureInterface,
  type InputInterface,
  InterfaceError,
  imageInterface,
  type OutputInterface,
  outputInterface,
} from './properties.js';

/** A model as the emulator runs it. */
export interface ModelInterface {
  /** As on the board: the config's output_model_file_prefix, else the file's base name. */
  readonly name: string;
  /** The ONNX file. */
  readonly file: string;
  /** The config file, if there was one. */
  readonly config: string | undefined;
  /** The ONNX bytes, until the BPU has loaded them (then dropped: the worker keeps its copy). */
  bytes: Uint8Array;
  readonly inputs: readonly InputInterface[];
  /** The graph's outputs as the ONNX declares them. */
  readonly onnxOutputs: readonly OnnxValue[];
  /** Empty until {@link resolveOutputs} (after the model's load run). */
  outputs: readonly OutputInterface[];
}

/** Why a model file cannot be loaded, with the hbDNN status to return. */
export class ModelFileError extends Error {
  readonly kind: 'open' | 'invalid';
  constructor(kind: 'open' | 'invalid', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** The ONNX file the emulator loads for `path`. */
export function onnxPathFor(path: string): string {
  return extname(path) === '.bin' ? `${path.slice(0, -'.bin'.length)}.onnx` : path;
}

/** Loads `path` (as passed to hbDNNInitializeFromFiles); throws ModelFileError. */
export function loadModelFile(path: string): ModelInterface {
  const file = onnxPathFor(path);
  const via = file === path ? '' : ` (for ${path}, the emulator loads the ONNX beside it)`;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ModelFileError('open', `cannot open ${file}${via}: ${code}; check the path`);
  }
  let io: ReturnType<typeof readOnnxIo>;
  try {
    io = readOnnxIo(bytes);
  } catch (error) {
    if (!(error instanceof NotOnnxError)) throw error;
    throw new ModelFileError(
      'invalid',
      `${file}${via} is not an ONNX model (${error.message}): pass the .onnx the board's .bin was ` +
        'compiled from',
    );
  }
  const base = join(dirname(file), basename(file, extname(file)));
  const configFile = [`${base}.yaml`, `${base}.yml`].find((f) => existsSync(f));
  let config: ModelConfig | undefined;
  if (configFile !== undefined) {
    try {
      config = parseConfig(configFile, readFileSync(configFile, 'utf8'));
    } catch (error) {
      if (error instanceof ConfigError) throw new ModelFileError('invalid', error.message);
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new ModelFileError('open', `cannot read ${configFile}: ${code}`);
    }
  }
  try {
    const inputs = io.inputs.map((v, i) => {
      const c =
        config?.inputs.find((x) => x.name === v.name) ?? unnamed(config, i, io.inputs.length);
      return c === undefined ? featureInterface(v) : imageInterface(v, c);
    });
    if (config !== undefined) {
      for (const c of config.inputs) {
        if (c.name !== undefined && !io.inputs.some((v) => v.name === c.name)) {
          throw new InterfaceError(
            `${config.file} configures input '${c.name}', which ${file} does not have ` +
              `(its inputs: ${io.inputs.map((v) => `'${v.name}'`).join(', ') || 'none'})`,
          );
        }
      }
    }
    for (const v of io.outputs) checkOutput(v);
    return {
      name: config?.modelName ?? basename(file, extname(file)),
      file,
      config: configFile,
      bytes,
      inputs,
      onnxOutputs: io.outputs,
      outputs: [],
    };
  } catch (error) {
    if (!(error instanceof InterfaceError)) throw error;
    const where = configFile === undefined ? file : `${file} with ${configFile}`;
    throw new ModelFileError('invalid', `${where}: ${error.message}`);
  }
}

/**
 * Sets the outputs of `iface` from what its load run made of them; throws ModelFileError
 * when they disagree with what the ONNX declares.
 */
export function resolveOutputs(iface: ModelInterface, ran: readonly LoadedOutput[]): void {
  try {
    iface.outputs = iface.onnxOutputs.map((v) =>
      outputInterface(
        v,
        ran.find((r) => r.name === v.name),
      ),
    );
  } catch (error) {
    if (!(error instanceof InterfaceError)) throw error;
    const where = iface.config === undefined ? iface.file : `${iface.file} with ${iface.config}`;
    throw new ModelFileError('invalid', `${where}: ${error.message}`);
  }
}

/** A config without input_name describes the inputs in order (one input: that one). */
function unnamed(config: ModelConfig | undefined, index: number, count: number) {
  if (config === undefined || config.inputs.some((c) => c.name !== undefined)) return undefined;
  if (config.inputs.length !== count) {
    throw new InterfaceError(
      `${config.file} describes ${config.inputs.length} input(s) without input_name, but the ONNX ` +
        `has ${count}: name them with input_name`,
    );
  }
  return config.inputs[index];
}
