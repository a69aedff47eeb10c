/**
 * The demo: a realistic BPU pipeline on the emulator, as a camera application on the
 * board runs it.
 *
 * 1. camera: a simulated camera writes each NV12 frame into one of a ring of VIO buffers
 *    (a device write to physical memory, as the ISP does);
 * 2. register: the frame's buffer is registered (hbSysRegisterMem) so the BPU may use it;
 * 3. BPU nv12ToRgb: the frame is converted and resized into a cached input tensor;
 *    the registration then ends, and the buffer goes back to the camera;
 * 4. BPU conv3x3Int8: an int8 3x3 convolution (uncached weights and bias, written once by
 *    the CPU) into a cached output tensor;
 * 5. INVALIDATE and post-process: the CPU invalidates the output, then computes a checksum
 *    and per-channel sums;
 * 6. verify: the same statistic from the CPU reference kernels over the frame's bytes.
 *
 * Every stage is timed. The result says what moved where and whether every frame matched.
 */

import { allocate, type HbSysBuffer, register } from '../buffer.js';
import { emulator } from '../emulator/index.js';
import { referenceKernels } from '../emulator/kernels/references.js';
import { dumpHeap, type HeapDump } from '../observe/dump.js';
import { currentFindings } from '../observe/findings.js';
import { type ObservedStats, observeStats } from '../observe/stats.js';

export interface DemoOptions {
  /** Frames to run. */
  frames: number;
  /** Camera frame size (even numbers: NV12 has one UV pair per 2x2 pixels). */
  width: number;
  height: number;
  /** The model's input tensor size. */
  tensorWidth: number;
  tensorHeight: number;
  /** Called after each frame (progress bar, live page); awaited. */
  onFrame?: (frame: number, frames: number) => void | Promise<void>;
}

/** Time spent in each stage, in ms, summed over all frames. */
export interface StageTimes {
  camera: number;
  register: number;
  nv12ToRgb: number;
  conv3x3Int8: number;
  invalidateAndPostProcess: number;
  verify: number;
}

export interface DemoResult {
  frames: number;
  width: number;
  height: number;
  tensorWidth: number;
  tensorHeight: number;
  outChannels: number;
  /** Frames whose post-processed statistic matched the CPU reference. */
  framesVerified: number;
  verified: boolean;
  /** Frames per second of the pipeline (stages 1-5; the verification is not counted). */
  framesPerSecond: number;
  /** Wall time of the whole run, verification and setup included. */
  wallMs: number;
  stages: StageTimes;
  /** Bytes the camera wrote, bytes the BPU moved (read + written). */
  bytes: { camera: number; bpu: number };
  /** The last frame's statistic, as the CPU computed it from the BPU's output. */
  lastFrame: FrameStatistic;
  findings: number;
  /** The heap after the last frame, before the buffers were freed. */
  dumpAtEnd: HeapDump;
  /** The statistics once everything is freed. */
  stats: ObservedStats;
}

/** What the CPU post-process computes from an output tensor. */
export interface FrameStatistic {
  /** FNV-1a over the output bytes. */
  checksum: number;
  /** Sum of each output channel. */
  channelSums: number[];
}

const IN_CHANNELS = 3;
const OUT_CHANNELS = 8;
const RING = 3;
const MULTIPLIER = 3;
const SHIFT = 10;

/** Runs the pipeline on the current machine. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { frames, width, height, tensorWidth, tensorHeight } = options;
  const started = performance.now();
  const frameBytes = (width * height * 3) / 2;
  const stages: StageTimes = {
    camera: 0,
    register: 0,
    nv12ToRgb: 0,
    conv3x3Int8: 0,
    invalidateAndPostProcess: 0,
    verify: 0,
  };
  const ring = Array.from({ length: RING }, () => emulator.vio.alloc(frameBytes));
  const weights = makeWeights();
  const bias = makeBias();
  let framesVerified = 0;
  let cameraBytes = 0;
  let lastFrame: FrameStatistic = { checksum: 0, channelSums: [] };
  let dumpAtEnd: HeapDump;
  const bpuBytesBefore = emulator.stats().bpuBytes;
  {
    // Weights and bias: written once by the CPU into uncached memory, so no CLEAN is needed.
    using weightsBuf = allocate(weights.byteLength, { label: 'conv weights (int8)' });
    using biasBuf = allocate(bias.byteLength, { label: 'conv bias (int32)' });
    weightsBuf.write(weights);
    biasBuf.write(bias);
    using input = allocate(tensorWidth * tensorHeight * IN_CHANNELS, {
      cached: true,
      label: 'input tensor (RGB)',
    });
    using output = allocate(tensorWidth * tensorHeight * OUT_CHANNELS, {
      cached: true,
      label: 'output tensor (int8)',
    });
    const resize = {
      srcWidth: width,
      srcHeight: height,
      dstWidth: tensorWidth,
      dstHeight: tensorHeight,
      order: 'rgb' as const,
    };
    const conv = {
      height: tensorHeight,
      width: tensorWidth,
      inChannels: IN_CHANNELS,
      inputZeroPoint: 128,
      outChannels: OUT_CHANNELS,
      multiplier: MULTIPLIER,
      shift: SHIFT,
      relu: true,
    };
    const frame = new Uint8Array(frameBytes);
    for (let i = 0; i < frames; i++) {
      const slot = ring[i % RING]!;
      let t = performance.now();
      const lap = (stage: keyof StageTimes) => {
        const now = performance.now();
        stages[stage] += now - t;
        t = now;
      };
      drawFrame(frame, width, height, i);
      emulator.vio.write(slot.phyAddr, frame);
      cameraBytes += frameBytes;
      lap('camera');
      const registered: HbSysBuffer = register(slot.phyAddr, frameBytes, {
        label: `camera frame ${i}`,
      });
      lap('register');
      try {
        await emulator.bpu.run('nv12ToRgb', {
          src: registered.phyAddr,
          dst: input.phyAddr,
          ...resize,
        });
      } finally {
        // The BPU is done with the frame: the camera may fill its buffer again.
        registered.free();
      }
      lap('nv12ToRgb');
      await emulator.bpu.run('conv3x3Int8', {
        input: input.phyAddr,
        weights: weightsBuf.phyAddr,
        bias: biasBuf.phyAddr,
        output: output.phyAddr,
        ...conv,
      });
      lap('conv3x3Int8');
      output.invalidate();
      lastFrame = statistic(output.view(Int8Array), OUT_CHANNELS);
      lap('invalidateAndPostProcess');
      const rgb = referenceKernels.nv12ToRgb(frame, resize);
      const expected = statistic(
        referenceKernels.conv3x3Int8(rgb, weights, bias, conv),
        OUT_CHANNELS,
      );
      if (sameStatistic(lastFrame, expected)) framesVerified++;
      lap('verify');
      await options.onFrame?.(i + 1, frames);
    }
    dumpAtEnd = dumpHeap();
  }
  for (const slot of ring) emulator.vio.free(slot.phyAddr);
  const pipelineMs =
    stages.camera +
    stages.register +
    stages.nv12ToRgb +
    stages.conv3x3Int8 +
    stages.invalidateAndPostProcess;
  return {
    frames,
    width,
    height,
    tensorWidth,
    tensorHeight,
    outChannels: OUT_CHANNELS,
    framesVerified,
    verified: framesVerified === frames,
    framesPerSecond: pipelineMs > 0 ? (frames * 1000) / pipelineMs : 0,
    wallMs: performance.now() - started,
    stages,
    bytes: { camera: cameraBytes, bpu: emulator.stats().bpuBytes - bpuBytesBefore },
    lastFrame,
    findings: currentFindings().length,
    dumpAtEnd,
    stats: observeStats(),
  };
}

/**
 * A camera frame: a diagonal luma gradient that moves with the frame number, and slowly
 * varying chroma, so that every frame differs and resizing has edges to interpolate.
 */
export function drawFrame(frame: Uint8Array, width: number, height: number, index: number): void {
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) frame[row + x] = (x + y * 2 + index * 5) & 0xff;
  }
  const uv = width * height;
  for (let y = 0; y < height / 2; y++) {
    for (let x = 0; x < width / 2; x++) {
      const o = uv + y * width + x * 2;
      frame[o] = (128 + ((x * 3 + index) & 0x3f) - 32) & 0xff;
      frame[o + 1] = (128 + ((y * 5 - index) & 0x3f) - 32) & 0xff;
    }
  }
}

/** Deterministic int8 weights [out][3][3][in], small so that outputs do not saturate. */
function makeWeights(): Int8Array {
  const w = new Int8Array(OUT_CHANNELS * 9 * IN_CHANNELS);
  let s = 12345;
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    w[i] = ((s >>> 16) % 17) - 8;
  }
  return w;
}

function makeBias(): Int32Array {
  return Int32Array.from({ length: OUT_CHANNELS }, (_, c) => (c - OUT_CHANNELS / 2) * 300);
}

/** The post-process: FNV-1a checksum and per-channel sums of an HWC int8 tensor. */
export function statistic(output: Int8Array, channels: number): FrameStatistic {
  let h = 0x811c9dc5;
  const sums = new Array<number>(channels).fill(0);
  for (let i = 0; i < output.length; i++) {
    const v = output[i]!;
    h = Math.imul(h ^ (v & 0xff), 0x01000193) >>> 0;
    sums[i % channels]! += v;
  }
  return { checksum: h, channelSums: sums };
}

function sameStatistic(a: FrameStatistic, b: FrameStatistic): boolean {
  return a.checksum === b.checksum && a.channelSums.every((s, i) => s === b.channelSums[i]);
}
