/**
 * Workload: models on the emulated BPU.
 * - Inference of the demo's model (PaddleOCR's PP-OCRv4 text detector, compiled for a
 *   320x256 NV12 input by the demo's config) through hbsys: write the NV12 frame into the
 *   cached input tensor, then `model.infer` (CLEAN, hbDNNInfer, the non-blocking wait,
 *   release, INVALIDATE), then read the probability map. Baseline in the same run: the same
 *   ONNX bytes in an onnxruntime-web session run directly in this thread (one WebAssembly
 *   thread, as the BPU worker's), on the float tensor that the compiled model's input stage
 *   makes of the same frame, computed once beforehand. Rounds alternate the two, against
 *   drift in machine load; the figure is the median of the rounds' medians.
 * - The first inference after load, against a later one: hbsys warms the model's session up
 *   at load (hbDNNInitializeFromFiles), so its first infer should cost about what later ones
 *   do. Beside it, the same for the direct session, which a program warms up itself or not.
 * - Task overhead: hbDNNInfer + hbDNNWaitTaskDone + hbDNNReleaseTask of a trivial model
 *   (y = x + 1 on 4 floats), blocking and with the promise wait, against a BPU copy job of
 *   16 bytes submitted and awaited.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { allocate } from '../src/buffer.js';
import { drawFrame } from '../src/cli/demo/camera.js';
import { writeDetector } from '../src/cli/demo/detector.js';
import { loadRuntime, nv12ToBgrInput } from '../src/cli/demo/reference.js';
import {
  hbDNNInfer,
  hbDNNReleaseTask,
  hbDNNWaitTaskDone,
  hbDNNWaitTaskDoneAsync,
} from '../src/dnn/hbdnn.js';
import {
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM,
  type hbDNNInferCtrlParam,
  type hbDNNTaskHandle_t,
} from '../src/dnn/types.js';
import { loadModel } from '../src/dnn-model/model.js';
import { emulator } from '../src/emulator/index.js';
import { type OpStats, quantile } from './measure.js';

export interface DnnResult {
  inference:
    | {
        width: number;
        height: number;
        rounds: number;
        hbsys: OpStats;
        direct: OpStats;
        /** Median over rounds of hbsys ÷ direct. */
        ratio: number;
        /** Load and the first inference after it (ms): hbsys, then the direct session. */
        first: { load: number; infer: number; directLoad: number; directRun: number };
      }
    | { skipped: string };
  task: { inferWait: OpStats; inferAwait: OpStats; copy: OpStats };
}

const MIB = 1024 * 1024;

/** Per-task median and p99 (ns) of async `fns`, run by tinybench one after the other. */
async function tinyAsync(
  fns: Record<string, () => Promise<unknown> | unknown>,
  timeMs: number,
): Promise<Record<string, OpStats>> {
  const bench = new Bench({
    time: timeMs,
    iterations: 5,
    warmupTime: Math.min(200, timeMs / 4),
    warmupIterations: 2,
  });
  for (const [name, fn] of Object.entries(fns)) bench.add(name, fn);
  await bench.run();
  const out: Record<string, OpStats> = {};
  for (const task of bench.tasks) {
    const r = task.result;
    if (r === undefined || !('latency' in r)) {
      const why = r !== undefined && 'error' in r ? String(r.error) : 'no result';
      throw new Error(`benchmark ${task.name} failed: ${why}`);
    }
    out[task.name] = {
      medianNs: r.latency.p50 * 1e6,
      p99Ns: r.latency.p99 * 1e6,
      ops: r.latency.samplesCount,
    };
  }
  return out;
}

async function inference(quick: boolean): Promise<DnnResult['inference']> {
  const width = 320;
  const height = 256;
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-bench-dnn-'));
  try {
    let files: ReturnType<typeof writeDetector>;
    try {
      files = writeDetector(dir, width, height);
    } catch (error) {
      return { skipped: (error as Error).message };
    }
    await emulator.reset({ heapSize: 64 * MIB, vioSize: MIB, sanitize: 'off' });
    let t = performance.now();
    using model = loadModel(files.bin);
    const load = performance.now() - t;
    using input = allocateTensorFor(model, 'input');
    using output = allocateTensorFor(model, 'output');
    const frame = new Uint8Array((width * height * 3) / 2);
    drawFrame(frame, width, height, 0);
    const map = new Float32Array(width * height);
    const hbsys = async () => {
      input.write(frame);
      await model.infer([input], [output]);
      output.read(map);
    };
    t = performance.now();
    await hbsys();
    const firstInfer = performance.now() - t;
    t = performance.now();
    const ort = await loadRuntime();
    const session = await ort.InferenceSession.create(readFileSync(files.onnx));
    const directLoad = performance.now() - t;
    const x = new ort.Tensor('float32', nv12ToBgrInput(frame, width, height), [
      1,
      3,
      height,
      width,
    ]);
    const feeds = { [session.inputNames[0]!]: x };
    const direct = async () => {
      await session.run(feeds);
    };
    t = performance.now();
    await direct();
    const directRun = performance.now() - t;
    const rounds = quick ? 2 : 4;
    const timeMs = quick ? 800 : 5000;
    const h: OpStats[] = [];
    const d: OpStats[] = [];
    for (let i = 0; i < rounds; i++) {
      const r =
        i % 2 === 0
          ? await tinyAsync({ direct, hbsys }, timeMs)
          : await tinyAsync({ hbsys, direct }, timeMs);
      h.push(r.hbsys!);
      d.push(r.direct!);
    }
    await session.release();
    const med = (s: OpStats[]): OpStats => ({
      medianNs: quantile(
        s.map((v) => v.medianNs),
        0.5,
      ),
      p99Ns: Math.max(...s.map((v) => v.p99Ns)),
      ops: s.reduce((n, v) => n + v.ops, 0),
    });
    return {
      width,
      height,
      rounds,
      hbsys: med(h),
      direct: med(d),
      ratio: quantile(
        h.map((v, i) => v.medianNs / d[i]!.medianNs),
        0.5,
      ),
      first: { load, infer: firstInfer, directLoad, directRun },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function allocateTensorFor(model: ReturnType<typeof loadModel>, kind: 'input' | 'output') {
  return (kind === 'input' ? model.allocateInputs() : model.allocateOutputs())[0]!;
}

/** The bytes of `y = x + 1` over 4 floats, built with onnx-proto (a devDependency). */
function trivialModel(): Uint8Array {
  const require = createRequire(import.meta.url);
  const { onnx } = require('onnx-proto') as {
    onnx: {
      ModelProto: { create(x: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } };
    };
  };
  const value = (name: string) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } },
  });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'trivial',
        node: [{ opType: 'Add', input: ['x', 'one'], output: ['y'] }],
        initializer: [{ name: 'one', dims: [], dataType: 1, floatData: [1] }],
        input: [value('x')],
        output: [value('y')],
      },
    }),
  ).finish();
}

async function taskOverhead(quick: boolean): Promise<DnnResult['task']> {
  await emulator.reset({ heapSize: 16 * MIB, vioSize: MIB, sanitize: 'off' });
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-bench-task-'));
  try {
    const file = join(dir, 'trivial.onnx');
    writeFileSync(file, trivialModel());
    using model = loadModel(file);
    using input = allocateTensorFor(model, 'input');
    using output = allocateTensorFor(model, 'output');
    using a = allocate(4096);
    using b = allocate(4096);
    const ctrl = {} as hbDNNInferCtrlParam;
    HB_DNN_INITIALIZE_INFER_CTRL_PARAM(ctrl);
    const outs = [output.tensor];
    const ins = [input.tensor];
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    const submit = () => {
      task.value = null;
      if (hbDNNInfer(task, outs, ins, model.handle, ctrl) !== 0)
        throw new Error('hbDNNInfer failed');
      return task.value!;
    };
    const r = await tinyAsync(
      {
        inferWait: () => {
          const t = submit();
          hbDNNWaitTaskDone(t, 0);
          hbDNNReleaseTask(t);
        },
        inferAwait: async () => {
          const t = submit();
          await hbDNNWaitTaskDoneAsync(t);
          hbDNNReleaseTask(t);
        },
        copy: () => emulator.bpu.copy(b.phyAddr, a.phyAddr, 16),
      },
      quick ? 400 : 3000,
    );
    return { inferWait: r.inferWait!, inferAwait: r.inferAwait!, copy: r.copy! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function dnnBench(quick: boolean, progress: (s: string) => void): Promise<DnnResult> {
  progress('model task overhead');
  const task = await taskOverhead(quick);
  progress('model inference, hbsys vs onnxruntime-web directly');
  const inf = await inference(quick);
  await emulator.reset({ sanitize: 'off', heapSize: 16 * MIB, vioSize: MIB });
  return { inference: inf, task };
}
