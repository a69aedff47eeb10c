/**
 * The conversion config the user compiled the model with: the vendor toolchain's YAML
 * (`hb_mapper makertbin --config x.yaml`), beside the ONNX with the same base name. The
 * emulator reads the keys that say what the compiled model's interface is:
 *
 * - `model_parameters.output_model_file_prefix`: the model's name, as on the board;
 * - `input_parameters`: `input_name`, `input_type_rt`, `input_layout_rt`,
 *   `input_type_train`, `input_layout_train`, `input_space_and_range`, `norm_type`,
 *   `mean_value`, `scale_value`, `input_shape`, `input_batch`.
 *
 * As in the toolchain, a key holds one value per input, separated by `;`, in the order of
 * `input_name`; `mean_value` and `scale_value` hold one number or one per channel,
 * separated by spaces. Other keys (calibration, compiler) do not change the interface and
 * are ignored.
 */

import { parse } from 'yaml';
import type { ColourRange, ImageType, Layout, TrainType } from './preprocess.js';

export type RtType = ImageType | 'featuremap';
export type NormType = 'no_preprocess' | 'data_mean' | 'data_scale' | 'data_mean_and_scale';

/** One input's interface, as the config gives it. */
export interface InputConfig {
  readonly name: string | undefined;
  readonly rt: RtType;
  readonly layoutRt: Layout | undefined;
  readonly train: TrainType | 'featuremap';
  readonly layoutTrain: Layout | undefined;
  readonly range: ColourRange;
  readonly norm: NormType;
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  readonly shape: readonly number[] | undefined;
}

export interface ModelConfig {
  readonly file: string;
  readonly modelName: string | undefined;
  readonly inputs: readonly InputConfig[];
}

/** A config that cannot be used: the message names the file and the key. */
export class ConfigError extends Error {}

const RT: readonly RtType[] = ['nv12', 'gray', 'rgb', 'bgr', 'yuv444', 'featuremap'];
const TRAIN: readonly (TrainType | 'featuremap')[] = ['rgb', 'bgr', 'yuv444', 'gray', 'featuremap'];
const NORM: readonly NormType[] = [
  'no_preprocess',
  'data_mean',
  'data_scale',
  'data_mean_and_scale',
];
/** The run-time → training conversions the toolchain allows. */
const ALLOWED: Readonly<Record<RtType, readonly string[]>> = {
  nv12: ['yuv444', 'rgb', 'bgr'],
  yuv444: ['yuv444', 'rgb', 'bgr'],
  rgb: ['rgb', 'bgr'],
  bgr: ['rgb', 'bgr'],
  gray: ['gray'],
  featuremap: ['featuremap'],
};

/** Parses the config's text; throws ConfigError saying what is wrong and where. */
export function parseConfig(file: string, text: string): ModelConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isRecord(doc)) throw new ConfigError(`${file} is not a YAML mapping of sections`);
  const model = doc.model_parameters;
  const prefix = isRecord(model) ? model.output_model_file_prefix : undefined;
  const modelName = prefix === undefined || prefix === null ? undefined : String(prefix);
  const inp = doc.input_parameters;
  if (!isRecord(inp)) {
    throw new ConfigError(`${file} has no input_parameters section: the toolchain needs one`);
  }
  const bad = (key: string, why: string) =>
    new ConfigError(`${file}: input_parameters.${key} ${why}`);
  const names = list(inp.input_name);
  const types = list(inp.input_type_rt);
  if (types.length === 0) throw bad('input_type_rt', 'is missing');
  const count = Math.max(names.length, types.length, 1);
  if (names.length > 0 && types.length > 1 && names.length !== types.length) {
    throw bad(
      'input_name',
      `names ${names.length} inputs but input_type_rt has ${types.length} values: give one per input`,
    );
  }
  const pick = (key: string, values: string[], i: number): string | undefined => {
    if (values.length === 0) return undefined;
    if (values.length !== count && values.length !== 1) {
      throw bad(key, `has ${values.length} values for ${count} inputs (separate them with ';')`);
    }
    return values.length === 1 ? values[0] : values[i];
  };
  const keys = {
    layoutRt: list(inp.input_layout_rt),
    train: list(inp.input_type_train),
    layoutTrain: list(inp.input_layout_train),
    range: list(inp.input_space_and_range),
    norm: list(inp.norm_type),
    mean: list(inp.mean_value),
    scale: list(inp.scale_value),
    shape: list(inp.input_shape),
  };
  const inputs: InputConfig[] = [];
  for (let i = 0; i < count; i++) {
    const rt = oneOf(bad, 'input_type_rt', pick('input_type_rt', types, i), RT);
    const trainText = pick('input_type_train', keys.train, i);
    if (trainText === undefined && (rt === 'nv12' || rt === 'yuv444')) {
      throw bad('input_type_train', `is needed for input_type_rt '${rt}' (rgb, bgr or yuv444)`);
    }
    const train = oneOf(bad, 'input_type_train', trainText ?? rt, TRAIN);
    if (!ALLOWED[rt].includes(train)) {
      throw bad(
        'input_type_train',
        `'${train}' cannot be fed from input_type_rt '${rt}': allowed are ${ALLOWED[rt].join(', ')}`,
      );
    }
    const layoutRt = layout(bad, 'input_layout_rt', pick('input_layout_rt', keys.layoutRt, i));
    if ((rt === 'rgb' || rt === 'bgr' || rt === 'yuv444') && layoutRt === undefined) {
      throw bad('input_layout_rt', `is needed for input_type_rt '${rt}' (NHWC or NCHW)`);
    }
    const layoutTrain = layout(
      bad,
      'input_layout_train',
      pick('input_layout_train', keys.layoutTrain, i),
    );
    if (rt !== 'featuremap' && layoutTrain === undefined) {
      throw bad('input_layout_train', 'is needed for an image input (NCHW or NHWC)');
    }
    const rangeText = pick('input_space_and_range', keys.range, i) ?? 'regular';
    if (rangeText !== 'regular' && rangeText !== 'bt601_video' && rangeText !== '') {
      throw bad('input_space_and_range', `must be regular or bt601_video, got '${rangeText}'`);
    }
    const norm = oneOf(bad, 'norm_type', pick('norm_type', keys.norm, i) ?? 'no_preprocess', NORM);
    const mean = numbers(bad, 'mean_value', pick('mean_value', keys.mean, i));
    const scale = numbers(bad, 'scale_value', pick('scale_value', keys.scale, i));
    const usesMean = norm === 'data_mean' || norm === 'data_mean_and_scale';
    const usesScale = norm === 'data_scale' || norm === 'data_mean_and_scale';
    if (usesMean && mean.length === 0) throw bad('mean_value', `is needed for norm_type ${norm}`);
    if (usesScale && scale.length === 0)
      throw bad('scale_value', `is needed for norm_type ${norm}`);
    if (rt === 'featuremap' && norm !== 'no_preprocess') {
      throw bad('norm_type', 'must be no_preprocess for a featuremap input');
    }
    const channels = train === 'gray' ? 1 : 3;
    for (const [key, v] of [
      ['mean_value', mean],
      ['scale_value', scale],
    ] as const) {
      if (v.length > 1 && v.length !== channels) {
        throw bad(key, `has ${v.length} values: give one, or one per channel (${channels})`);
      }
    }
    const shapeText = pick('input_shape', keys.shape, i);
    inputs.push({
      name: names.length === 0 ? undefined : names[i],
      rt,
      layoutRt,
      train,
      layoutTrain,
      range: rangeText === 'bt601_video' ? 'bt601_video' : 'regular',
      norm,
      mean: usesMean ? mean : [],
      scale: usesScale ? scale : [],
      shape: shapeText === undefined || shapeText === '' ? undefined : dims(bad, shapeText),
    });
  }
  const batch = inp.input_batch;
  if (batch !== undefined && batch !== null && Number(batch) !== 1) {
    throw bad('input_batch', `is ${String(batch)}: the emulator models input_batch 1 only`);
  }
  return { file, modelName, inputs };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A key's values: `'a;b'`, a YAML list, or one scalar. */
function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => String(x).trim());
  return String(v)
    .split(';')
    .map((s) => s.trim())
    .filter((s, _i, all) => s !== '' || all.length === 1);
}

function oneOf<T extends string>(
  bad: (k: string, w: string) => Error,
  key: string,
  v: string | undefined,
  allowed: readonly T[],
): T {
  if (v === undefined || !(allowed as readonly string[]).includes(v)) {
    throw bad(
      key,
      `must be one of ${allowed.join(', ')}, got ${v === undefined ? 'nothing' : `'${v}'`}`,
    );
  }
  return v as T;
}

function layout(bad: (k: string, w: string) => Error, key: string, v: string | undefined) {
  if (v === undefined || v === '') return undefined;
  if (v !== 'NCHW' && v !== 'NHWC') throw bad(key, `must be NCHW or NHWC, got '${v}'`);
  return v as Layout;
}

function numbers(bad: (k: string, w: string) => Error, key: string, v: string | undefined) {
  if (v === undefined || v.trim() === '') return [];
  const out = v
    .trim()
    .split(/[\s,]+/)
    .map(Number);
  if (out.some((n) => !Number.isFinite(n)))
    throw bad(key, `must be numbers separated by spaces, got '${v}'`);
  return out;
}

function dims(bad: (k: string, w: string) => Error, v: string): number[] {
  const out = v.split('x').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1)) {
    throw bad('input_shape', `must look like 1x3x224x224, got '${v}'`);
  }
  return out;
}
