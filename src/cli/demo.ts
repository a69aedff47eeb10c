/**
 * The demo: a camera → BPU model → CPU pipeline on the emulator, as a camera application on
 * the board runs it, with a real pretrained model (PaddleOCR's PP-OCRv4 text detector).
 *
 * 1. camera: a simulated camera writes each NV12 frame (text on a shaded background) into
 *    one of a ring of VIO buffers (a device write to physical memory, as the ISP does);
 * 2. register: the frame's buffer is registered (hbSysRegisterMem) and wrapped as an NV12
 *    tensor, without a copy;
 * 3. resize (when the camera's size differs from the model's): hbDNNResize on the BPU into
 *    the model's own NV12 input tensor (libdnn 1.18, the X3's; X5 has no resize);
 * 4. infer: hbDNNInfer of the detector compiled for NV12 input (its config beside it),
 *    hbDNNWaitTaskDone, INVALIDATE of the output; the frame's registration then ends;
 * 5. post-process on the CPU: the probability map becomes text boxes;
 * 6. verify: the same model run directly by onnxruntime-web on the same NV12 bytes (and the
 *    resize against its CPU reference): the maps must agree within TOLERANCE and give the
 *    same boxes.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HbSysBuffer, register } from '../buffer.js';
import type { hbDNNTensorProperties } from '../dnn/types.js';
import { loadModel, type Model } from '../dnn-model/model.js';
import { resizeImage } from '../dnn-model/resize.js';
import { allocateTensor, wrapTensor } from '../dnn-model/tensor.js';
import { emulator } from '../emulator/index.js';
import { referenceKernels } from '../emulator/kernels/references.js';
import { dumpHeap, type HeapDump } from '../observe/dump.js';
import { currentFindings } from '../observe/findings.js';
import { emulatorDetailed, type ObservedStats } from '../observe/stats.js';
import { drawFrame, type Rect, type TextLine } from './demo/camera.js';
import { iou, scaleRect, type TextBox, textBoxes } from './demo/db-postprocess.js';
import { writeDetector } from './demo/detector.js';
import { ReferenceDetector } from './demo/reference.js';

export { DemoSetupError } from './demo/detector.js';

/**
 * Largest difference allowed between a probability of the map from hbsys and from the ONNX
 * runtime run directly. Both run the same runtime on the same float input, so they agree
 * exactly here; the margin allows for a runtime that sums in another order.
 */
export const TOLERANCE = 1e-4;

export interface DemoOptions {
  /** Frames to run. */
  frames: number;
  /** Camera frame size (even; a multiple of 16 wide when it is resized). */
  width: number;
  height: number;
  /** The model's input size (multiples of 32). Equal to the camera's: no resize. */
  tensorWidth: number;
  tensorHeight: number;
  /** Called after each frame (progress bar, live page); awaited. */
  onFrame?: (frame: number, frames: number) => void | Promise<void>;
}

/**
 * Time spent in each stage, in ms, summed over the frames after the first (over the only
 * frame when there is one): the first run of a model warms the runtime up, and is timed
 * on its own as `firstFrameMs`.
 */
export interface StageTimes {
  camera: number;
  register: number;
  resize: number;
  infer: number;
  postProcess: number;
  verify: number;
}

export interface FrameResult {
  /** The text lines the camera drew, in camera pixels. */
  lines: TextLine[];
  /** The detector's boxes from hbsys's output, in camera pixels. */
  boxes: (Rect & { score: number })[];
  /** Lines that the boxes over them cover: the union of those boxes has an IoU of 0.5 or more. */
  linesFound: number;
  /** Largest difference between hbsys's map and the ONNX runtime's. */
  maxAbsDiff: number;
  /** Whether both maps gave the same boxes. */
  sameBoxes: boolean;
  /** Whether hbDNNResize's output equals its CPU reference (true when there is no resize). */
  resizeExact: boolean;
}

export interface DemoResult {
  frames: number;
  width: number;
  height: number;
  tensorWidth: number;
  tensorHeight: number;
  resized: boolean;
  /** The model: its name, the package's ONNX it came from, and the config it was compiled with. */
  model: { name: string; source: string; config: string };
  /** Frames whose map agreed with the ONNX runtime's (within TOLERANCE, same boxes). */
  framesVerified: number;
  verified: boolean;
  tolerance: number;
  /** Largest difference over all frames. */
  maxAbsDiff: number;
  /** Text lines drawn and found over all frames. */
  textLines: { drawn: number; found: number };
  /** Frames per second of the pipeline (stages 1-5, the verification not counted) after the first frame. */
  framesPerSecond: number;
  /** The first frame's pipeline (stages 1-5): each stage's first run (the model was warmed up at load). */
  firstFrameMs: number;
  /** Frames the stage times are summed over. */
  timedFrames: number;
  /** Wall time of the whole run, model loading and verification included. */
  wallMs: number;
  /** Loading the model (hbDNNInitializeFromFiles) and the reference session. */
  loadMs: { hbsys: number; reference: number };
  stages: StageTimes;
  /** Bytes the camera wrote, bytes the BPU moved (read + written). */
  bytes: { camera: number; bpu: number };
  lastFrame: FrameResult;
  findings: number;
  /** The heap after the last frame, before the buffers were freed. */
  dumpAtEnd: HeapDump;
  /** The statistics once everything is freed. */
  stats: ObservedStats;
}

const RING = 3;

/** NV12 properties of a `width`×`height` image, from the model's input properties. */
function nv12Properties(
  like: hbDNNTensorProperties,
  width: number,
  height: number,
): hbDNNTensorProperties {
  const p = structuredClone(like);
  p.validShape.dimensionSize = [1, 3, height, width, 0, 0, 0, 0];
  p.alignedShape.dimensionSize = [1, 3, height, width, 0, 0, 0, 0];
  p.alignedByteSize = (width * height * 3) / 2;
  return p;
}

type Measured = 'stats' | 'findings' | 'wallMs';

/**
 * Runs the pipeline on the current machine; the statistics and findings are taken once
 * everything is freed. Throws DemoSetupError when a package it needs is missing.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const result = await pipeline(options);
  return {
    ...result,
    wallMs: performance.now() - started,
    findings: currentFindings().length,
    stats: emulatorDetailed(),
  };
}

async function pipeline(options: DemoOptions): Promise<Omit<DemoResult, Measured>> {
  const { frames, width, height, tensorWidth, tensorHeight } = options;
  const resized = width !== tensorWidth || height !== tensorHeight;
  const frameBytes = (width * height * 3) / 2;
  const zero = (): StageTimes => ({
    camera: 0,
    register: 0,
    resize: 0,
    infer: 0,
    postProcess: 0,
    verify: 0,
  });
  const pipelineMs = (s: StageTimes) => s.camera + s.register + s.resize + s.infer + s.postProcess;
  let stages = zero();
  let firstFrameMs = 0;
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-demo-'));
  let reference: ReferenceDetector | undefined;
  const ring: { phyAddr: bigint }[] = [];
  try {
    const files = writeDetector(dir, tensorWidth, tensorHeight);
    let t = performance.now();
    using model: Model = loadModel(files.bin);
    const loadHbsys = performance.now() - t;
    t = performance.now();
    reference = await ReferenceDetector.load(files.source);
    // The engine finishes that runtime's WebAssembly on this thread at the next turn of the
    // event loop (close to a second here): let it, so that it is counted as the reference's
    // load and not as the first frame's.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const loadReference = performance.now() - t;
    for (let i = 0; i < RING; i++) ring.push(emulator.vio.alloc(frameBytes));
    const inputProps = model.inputs[0]!.properties;
    const cameraProps = nv12Properties(inputProps, width, height);
    using input = resized ? allocateTensor(inputProps, { label: 'model input (NV12)' }) : null;
    using output = allocateTensor(model.outputs[0]!.properties, {
      label: 'model output (text probability)',
    });
    const bpuBytesBefore = emulator.stats().bpuBytes;
    let framesVerified = 0;
    let cameraBytes = 0;
    let maxAbsDiff = 0;
    const textLines = { drawn: 0, found: 0 };
    let lastFrame: FrameResult | undefined;
    const frame = new Uint8Array(frameBytes);
    const map = new Float32Array(tensorWidth * tensorHeight);
    for (let i = 0; i < frames; i++) {
      if (i === 1) {
        firstFrameMs = pipelineMs(stages);
        stages = zero();
      }
      const slot = ring[i % RING]!;
      t = performance.now();
      const lap = (stage: keyof StageTimes) => {
        const now = performance.now();
        stages[stage] += now - t;
        t = now;
      };
      const lines = drawFrame(frame, width, height, i);
      emulator.vio.write(slot.phyAddr, frame);
      cameraBytes += frameBytes;
      lap('camera');
      const registered: HbSysBuffer = register(slot.phyAddr, frameBytes, {
        label: `camera frame ${i}`,
      });
      let modelInput: Uint8Array;
      let resizeExact = true;
      try {
        using camera = wrapTensor(cameraProps, [registered]);
        lap('register');
        if (input !== null) {
          await resizeImage(input, camera);
          lap('resize');
        }
        await model.infer([input ?? camera], [output]);
        lap('infer');
        output.read(map);
        // The NV12 bytes the model was given, for the check below (not timed as pipeline).
        modelInput = input === null ? frame : (input.read() as Uint8Array);
      } finally {
        // The BPU is done with the frame: the camera may fill its buffer again.
        registered.free();
      }
      const boxes = textBoxes(map, tensorWidth, tensorHeight);
      lap('postProcess');
      if (input !== null) {
        const expected = referenceKernels.resize(
          'nv12',
          frame,
          { width, height, stride: width },
          { left: 0, top: 0, right: width - 1, bottom: height - 1 },
          { width: tensorWidth, height: tensorHeight, stride: tensorWidth },
        );
        resizeExact = sameBytes(modelInput, expected);
      }
      const direct = await reference.run(modelInput, tensorWidth, tensorHeight);
      const diff = maxDifference(map, direct);
      const sameBoxes = sameBoxList(boxes, textBoxes(direct, tensorWidth, tensorHeight));
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      if (diff <= TOLERANCE && sameBoxes && resizeExact) framesVerified++;
      const sx = width / tensorWidth;
      const sy = height / tensorHeight;
      const inCamera = boxes.map((b) => ({ ...scaleRect(b, sx, sy), score: b.score }));
      const linesFound = lines.filter((l) => found(l, inCamera)).length;
      textLines.drawn += lines.length;
      textLines.found += linesFound;
      lastFrame = {
        lines,
        boxes: inCamera,
        linesFound,
        maxAbsDiff: diff,
        sameBoxes,
        resizeExact,
      };
      lap('verify');
      await options.onFrame?.(i + 1, frames);
    }
    const dumpAtEnd = dumpHeap();
    if (frames === 1) firstFrameMs = pipelineMs(stages);
    const timed = Math.max(1, frames - 1);
    return {
      frames,
      width,
      height,
      tensorWidth,
      tensorHeight,
      resized,
      model: {
        name: model.name,
        source: files.source,
        config: readFileSync(files.config, 'utf8'),
      },
      framesVerified,
      verified: framesVerified === frames,
      tolerance: TOLERANCE,
      maxAbsDiff,
      textLines,
      framesPerSecond: pipelineMs(stages) > 0 ? (timed * 1000) / pipelineMs(stages) : 0,
      firstFrameMs,
      timedFrames: timed,
      loadMs: { hbsys: loadHbsys, reference: loadReference },
      stages,
      bytes: { camera: cameraBytes, bpu: emulator.stats().bpuBytes - bpuBytesBefore },
      lastFrame: lastFrame!,
      dumpAtEnd,
    };
  } finally {
    for (const slot of ring) emulator.vio.free(slot.phyAddr);
    await reference?.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the boxes that overlap `line` (a line may come out as one box per word) cover it. */
function found(line: Rect, boxes: readonly Rect[]): boolean {
  const over = boxes.filter((b) => iou(line, b) > 0);
  if (over.length === 0) return false;
  const x0 = Math.min(...over.map((b) => b.x));
  const y0 = Math.min(...over.map((b) => b.y));
  const x1 = Math.max(...over.map((b) => b.x + b.width));
  const y1 = Math.max(...over.map((b) => b.y + b.height));
  return iou(line, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }) >= 0.5;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function sameBoxList(a: readonly TextBox[], b: readonly TextBox[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (x, i) =>
        x.x === b[i]!.x &&
        x.y === b[i]!.y &&
        x.width === b[i]!.width &&
        x.height === b[i]!.height &&
        Math.abs(x.score - b[i]!.score) <= TOLERANCE,
    )
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
