/**
 * Workload: hbDNN on the emulator, through the public C-style API.
 * - First load: hbDNNInitializeFromFiles of a tiny model in a fresh process (the BPU worker
 *   and the WebAssembly runtime start), median of 3 processes.
 * - Later loads: the same call in a process that has loaded once, median of 20.
 * - Task: hbDNNInfer + hbDNNWaitTaskDone + hbDNNReleaseTask of a tiny model (y = 2x + 1 over
 *   16 floats), median and p99, against the baseline in the same run: a 4 KiB bpu.copy
 *   awaited, the BPU's cheapest job; and the same model run directly by onnxruntime-web in
 *   this thread (what a user without hbsys would run), awaited one at a time.
 *
 * Run: `npm run build && node build/bench/dnn-task.bench.js [--json]`.
 */

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  allocate,
  emulator,
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM,
  hbDNNGetInputTensorProperties,
  hbDNNGetModelHandle,
  hbDNNGetOutputTensorProperties,
  type hbDNNHandle_t,
  hbDNNInfer,
  type hbDNNInferCtrlParam,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  hbDNNWaitTaskDone,
  type hbPackedDNNHandle_t,
  hbSysAllocMem,
  hbSysFreeMem,
  type hbSysMem,
} from '../src/index.js';
import { affineModel, modelDir, writeModel } from '../test/dnn/models.js';
import { quantile, table } from './measure.js';

export interface DnnTaskResult {
  firstLoadMs: number;
  laterLoadMs: number;
  taskMedianUs: number;
  taskP99Us: number;
  copyMedianUs: number;
  ratio: number;
  directMedianUs: number;
  directP99Us: number;
}

function check(code: number): void {
  if (code !== 0) throw new Error(`hbDNN call failed with ${code}`);
}

function loadMs(file: string): { ms: number; packed: hbPackedDNNHandle_t } {
  const packed: { value?: hbPackedDNNHandle_t } = {};
  const t = performance.now();
  check(hbDNNInitializeFromFiles(packed, [file], 1));
  return { ms: performance.now() - t, packed: packed.value! };
}

export async function dnnTaskBench(samples = 1000): Promise<DnnTaskResult> {
  const dir = modelDir();
  const file = writeModel(dir, 'tiny', affineModel([1, 16]));
  // First loads, each in a fresh process.
  const script = join(dir, 'first.mjs');
  const entry = fileURLToPath(new URL('../src/index.js', import.meta.url));
  writeFileSync(
    script,
    `import { hbDNNInitializeFromFiles } from ${JSON.stringify(entry)};
const t = performance.now();
const code = hbDNNInitializeFromFiles({}, [${JSON.stringify(file)}], 1);
console.log(code === 0 ? performance.now() - t : -1);`,
  );
  const firsts = [0, 1, 2].map((): number =>
    Number(execFileSync(process.execPath, [script]).toString()),
  );
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
  const first = loadMs(file);
  const later: number[] = [];
  for (let i = 0; i < 20; i++) {
    const l = loadMs(file);
    later.push(l.ms);
    check(hbDNNRelease(l.packed));
  }
  const model: { value?: hbDNNHandle_t } = {};
  check(hbDNNGetModelHandle(model, first.packed, 'tiny'));
  const tensor = (get: typeof hbDNNGetInputTensorProperties): hbDNNTensor => {
    const properties = {} as hbDNNTensorProperties;
    check(get(properties, model.value!, 0));
    const mem = {} as hbSysMem;
    check(hbSysAllocMem(mem, properties.alignedByteSize));
    return { sysMem: [mem], properties };
  };
  const input = tensor(hbDNNGetInputTensorProperties);
  const output = tensor(hbDNNGetOutputTensorProperties);
  const ctrl = {} as hbDNNInferCtrlParam;
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM(ctrl);
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  const once = () => {
    task.value = null;
    check(hbDNNInfer(task, [output], [input], model.value!, ctrl));
    check(hbDNNWaitTaskDone(task.value!, 0));
    check(hbDNNReleaseTask(task.value!));
  };
  for (let i = 0; i < 200; i++) once();
  const tasks: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    once();
    tasks.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  using a = allocate(4096);
  using b = allocate(4096);
  for (let i = 0; i < 200; i++) await emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096);
  const copies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    await emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096);
    copies.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const direct = await directOrt(affineModel([1, 16]), samples);
  hbSysFreeMem(input.sysMem[0]!);
  hbSysFreeMem(output.sysMem[0]!);
  check(hbDNNRelease(first.packed));
  const taskMedianUs = quantile(tasks, 0.5);
  const copyMedianUs = quantile(copies, 0.5);
  return {
    firstLoadMs: quantile(firsts, 0.5),
    laterLoadMs: quantile(later, 0.5),
    taskMedianUs,
    taskP99Us: quantile(tasks, 0.99),
    copyMedianUs,
    ratio: taskMedianUs / copyMedianUs,
    directMedianUs: quantile(direct, 0.5),
    directP99Us: quantile(direct, 0.99),
  };
}

/** The same model through onnxruntime-web directly, in this thread, one thread of wasm. */
async function directOrt(bytes: Uint8Array, samples: number): Promise<number[]> {
  const name: string = 'onnxruntime-web';
  const ort = (await import(name)) as {
    env: { wasm: { numThreads: number; proxy: boolean } };
    InferenceSession: { create(b: Uint8Array): Promise<{ run(f: object): Promise<unknown> }> };
    Tensor: new (t: string, d: Float32Array, dims: number[]) => object;
  };
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  const session = await ort.InferenceSession.create(bytes);
  const x = new Float32Array(16);
  const run = () => session.run({ x: new ort.Tensor('float32', x, [1, 16]) });
  for (let i = 0; i < 200; i++) await run();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    await run();
    out.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await dnnTaskBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(
      table(
        ['figure', 'hbsys', 'baseline (same run)'],
        [
          ['first model load (fresh process)', `${r.firstLoadMs.toFixed(0)} ms`, '—'],
          ['later loads', `${r.laterLoadMs.toFixed(1)} ms`, '—'],
          [
            'infer + wait + release, tiny model (median / p99)',
            `${r.taskMedianUs.toFixed(0)} / ${r.taskP99Us.toFixed(0)} µs`,
            `4 KiB bpu.copy awaited: ${r.copyMedianUs.toFixed(0)} µs (ratio ${r.ratio.toFixed(2)}); ` +
              `onnxruntime-web directly: ${r.directMedianUs.toFixed(0)} / ${r.directP99Us.toFixed(0)} µs`,
          ],
        ],
      ),
    );
  }
}
