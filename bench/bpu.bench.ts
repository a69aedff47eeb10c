/**
 * Workload: the emulated BPU.
 * - Latency: a 4 KiB bpu.copy between two uncached allocations, awaited one at a time,
 *   submit to completion (N samples; median, p99). Baselines in the same run:
 *   - the floor of any design that does the copy in another thread and awaits it: a worker
 *     blocked in Atomics.wait is woken by Atomics.notify, copies the same 4 KiB between two
 *     views of a SharedArrayBuffer with Uint8Array.prototype.set, and notifies back; the main
 *     thread awaits Atomics.waitAsync (the mechanism the BPU's queue itself uses, with no
 *     queue, kernel dispatch or checks around it);
 *   - the same 4 KiB copy done in this thread with Uint8Array.prototype.set (what the work
 *     costs without a second thread; timed 64 at a time).
 *   (A postMessage ping-pong, the former baseline, pays for cloning a message and a turn of
 *   each thread's event loop, which the BPU's queue does not: a bar set too low.)
 * - Latency from a worker thread: the same 4 KiB bpu.copy, awaited one at a time, submitted
 *   from a worker thread that shares the machine (one BPU serves every thread), against the
 *   same copy from the main thread; the rounds alternate (main, worker, main, worker) so both
 *   see the same machine load. Median and p99 over every round's samples.
 * - Bandwidth: bpu.copy of 64 MiB (16 MiB quick) between two uncached allocations, against
 *   Uint8Array.prototype.set of the same size between the same two mappings, in-thread.
 * - Pipeline, sanitizer off against report: per frame, a camera writes a 1280x720 NV12
 *   frame into a VIO buffer (emulator.vio.write); the program registers it; the BPU runs
 *   nv12ToRgb to a 224x224 cached tensor, then conv3x3Int8 (3 → 8 channels) into a cached
 *   output; the program INVALIDATEs the output, sums it, and unregisters the frame. The
 *   frames/s count all of that, the sum included; nothing checks the output against a
 *   reference (the demo's check is not part of this pipeline).
 */

import { Worker } from 'node:worker_threads';
import { allocate, register } from '../src/buffer.js';
import { emulator } from '../src/emulator/index.js';
import { quantile } from './measure.js';

export interface BpuResult {
  latency: {
    bpuMedianNs: number;
    bpuP99Ns: number;
    /** Atomics notify → worker copies 4 KiB with set → notify → waitAsync resolves. */
    atomicsMedianNs: number;
    atomicsP99Ns: number;
    /** The same 4 KiB copy with Uint8Array.prototype.set in this thread. */
    setMedianNs: number;
    samples: number;
  };
  /** The 4 KiB copy from a worker thread against from the main thread, rounds alternated. */
  threads: {
    mainMedianNs: number;
    mainP99Ns: number;
    workerMedianNs: number;
    workerP99Ns: number;
    samples: number;
  };
  bandwidth: { size: number; bpuGBps: number; setGBps: number };
  pipeline: { frames: number; offFps: number; reportFps: number; findings: number };
}

const MIB = 1024 * 1024;

async function time(fn: () => Promise<unknown>, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t));
  }
  return out;
}

// The baseline's worker: waits for a request, copies 4 KiB, signals completion. ctl[0]:
// requests, ctl[1]: completions, ctl[2]: stop.
const ATOMICS_WORKER = `
const { workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData.ctl);
const src = new Uint8Array(workerData.mem, 0, 4096);
const dst = new Uint8Array(workerData.mem, 4096, 4096);
let seen = 0;
for (;;) {
  while (Atomics.load(ctl, 0) === seen) Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  if (Atomics.load(ctl, 2) !== 0) break;
  dst.set(src);
  Atomics.store(ctl, 1, seen);
  Atomics.notify(ctl, 1);
}`;

type WaitAsync = (
  a: Int32Array,
  i: number,
  v: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** Submit-to-complete of a 4 KiB copy in a worker, awaited: the floor of the BPU's latency. */
async function atomicsRoundTrip(samples: number): Promise<number[]> {
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const mem = new SharedArrayBuffer(8192);
  const worker = new Worker(ATOMICS_WORKER, { eval: true, workerData: { ctl: ctl.buffer, mem } });
  let request = 0;
  const roundTrip = async () => {
    const done = Atomics.load(ctl, 1);
    Atomics.store(ctl, 0, ++request);
    Atomics.notify(ctl, 0);
    while (Atomics.load(ctl, 1) === done) {
      const w = waitAsync(ctl, 1, done);
      if (w.async) await w.value;
    }
  };
  try {
    await time(roundTrip, 200); // warm up
    return await time(roundTrip, samples);
  } finally {
    Atomics.store(ctl, 2, 1);
    Atomics.store(ctl, 0, ++request);
    Atomics.notify(ctl, 0);
    await worker.terminate();
  }
}

async function latency(samples: number): Promise<BpuResult['latency']> {
  await emulator.reset({ heapSize: 16 * MIB, vioSize: MIB });
  using a = allocate(4096);
  using b = allocate(4096);
  await time(() => emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096), 200); // warm up
  const bpu = await time(() => emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096), samples);
  const atomics = await atomicsRoundTrip(samples);
  const dst = b.bytes;
  const src = a.bytes;
  const sets: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    for (let j = 0; j < 64; j++) dst.set(src);
    sets.push(Number(process.hrtime.bigint() - t) / 64);
  }
  return {
    bpuMedianNs: quantile(bpu, 0.5),
    bpuP99Ns: quantile(bpu, 0.99),
    atomicsMedianNs: quantile(atomics, 0.5),
    atomicsP99Ns: quantile(atomics, 0.99),
    setMedianNs: quantile(sets, 0.5),
    samples,
  };
}

// The worker thread of the thread latency: imports the package (it shares the machine the
// main thread made), then times the copies it is asked for and posts the samples.
const THREAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.entry).then(({ emulator }) => {
  const { a, b } = workerData;
  parentPort.on('message', async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      await emulator.bpu.copy(b, a, 4096);
      out.push(Number(process.hrtime.bigint() - t));
    }
    parentPort.postMessage(out);
  });
  parentPort.postMessage('ready');
});`;

async function threadLatency(samples: number, rounds: number): Promise<BpuResult['threads']> {
  await emulator.reset({ heapSize: 16 * MIB, vioSize: MIB });
  using a = allocate(4096);
  using b = allocate(4096);
  const entry = new URL('../src/emulator/index.js', import.meta.url).href;
  const worker = new Worker(THREAD_WORKER, {
    eval: true,
    workerData: { entry, a: a.phyAddr, b: b.phyAddr },
  });
  const nextMessage = <T>() =>
    new Promise<T>((resolve, reject) => {
      worker.once('message', (m: T) => {
        worker.off('error', reject);
        resolve(m);
      });
      worker.once('error', reject);
    });
  const inWorker = async (n: number) => {
    const reply = nextMessage<number[]>();
    worker.postMessage(n);
    return reply;
  };
  const copy = () => emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096);
  const main: number[] = [];
  const work: number[] = [];
  try {
    await nextMessage();
    // Warm-up in each thread, not counted (each thread's JIT compiles the calls on its own).
    await time(copy, 200);
    await inWorker(200);
    const per = Math.ceil(samples / rounds);
    for (let r = 0; r < rounds; r++) {
      main.push(...(await time(copy, per)));
      work.push(...(await inWorker(per)));
    }
  } finally {
    await worker.terminate();
  }
  return {
    mainMedianNs: quantile(main, 0.5),
    mainP99Ns: quantile(main, 0.99),
    workerMedianNs: quantile(work, 0.5),
    workerP99Ns: quantile(work, 0.99),
    samples: main.length,
  };
}

async function bandwidth(size: number, rounds: number): Promise<BpuResult['bandwidth']> {
  await emulator.reset({ heapSize: 2 * size + 16 * MIB, vioSize: MIB });
  using a = allocate(size);
  using b = allocate(size);
  a.bytes.fill(7);
  const src = a.bytes;
  const dst = b.bytes;
  const bpuTimes: number[] = [];
  const setTimes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Interleaved, so both see the same machine load.
    bpuTimes.push(...(await time(() => emulator.bpu.copy(b.phyAddr, a.phyAddr, size), 1)));
    const t = process.hrtime.bigint();
    dst.set(src);
    setTimes.push(Number(process.hrtime.bigint() - t));
  }
  return { size, bpuGBps: size / quantile(bpuTimes, 0.5), setGBps: size / quantile(setTimes, 0.5) };
}

async function pipelineFps(
  sanitize: 'off' | 'report',
  frames: number,
): Promise<{ fps: number; findings: number }> {
  await emulator.reset({ heapSize: 64 * MIB, vioSize: 16 * MIB, sanitize });
  emulator.clearFindings();
  const W = 1280;
  const H = 720;
  const S = 224;
  const C = 8;
  const frameBytes = (W * H * 3) / 2;
  const camera = emulator.vio.alloc(frameBytes);
  const nv12 = new Uint8Array(frameBytes);
  for (let i = 0; i < frameBytes; i++) nv12[i] = (i * 7) & 0xff;
  using input = allocate(S * S * 3, { cached: true, label: 'input' });
  using weights = allocate(C * 9 * 3, { cached: true, label: 'weights' });
  using bias = allocate(C * 4, { cached: true, label: 'bias' });
  using output = allocate(S * S * C, { cached: true, label: 'output' });
  weights.write(Int8Array.from({ length: C * 27 }, (_, i) => ((i * 37) % 255) - 127)).clean();
  bias.write(new Int32Array(C).fill(1000)).clean();
  let sum = 0;
  const run = async () => {
    emulator.vio.write(camera.phyAddr, nv12);
    using frame = register(camera.phyAddr, frameBytes);
    await emulator.bpu.run('nv12ToRgb', {
      src: frame.phyAddr,
      srcWidth: W,
      srcHeight: H,
      dst: input.phyAddr,
      dstWidth: S,
      dstHeight: S,
    });
    await emulator.bpu.run('conv3x3Int8', {
      input: input.phyAddr,
      weights: weights.phyAddr,
      bias: bias.phyAddr,
      output: output.phyAddr,
      height: S,
      width: S,
      inChannels: 3,
      outChannels: C,
      multiplier: 1,
      shift: 8,
      relu: true,
    });
    for (const v of output.invalidate().view(Int8Array)) sum += v;
  };
  await run();
  const t = process.hrtime.bigint();
  for (let i = 0; i < frames; i++) await run();
  const ns = Number(process.hrtime.bigint() - t);
  if (sum === 0) throw new Error('pipeline produced nothing');
  const findings = emulator.findings().length;
  emulator.vio.free(camera.phyAddr);
  return { fps: (frames * 1e9) / ns, findings };
}

export async function bpuBench(quick: boolean, progress: (s: string) => void): Promise<BpuResult> {
  progress('BPU latency');
  const lat = await latency(quick ? 1000 : 5000);
  progress('BPU latency from a worker thread');
  const threads = await threadLatency(quick ? 1000 : 5000, quick ? 4 : 10);
  progress('BPU bandwidth');
  const bw = await bandwidth(quick ? 16 * MIB : 64 * MIB, quick ? 10 : 20);
  progress('pipeline, sanitizer off and report');
  const frames = quick ? 10 : 30;
  // Interleave off and report twice and keep each one's best, against drift in machine load.
  const off1 = await pipelineFps('off', frames);
  const rep1 = await pipelineFps('report', frames);
  const off2 = await pipelineFps('off', frames);
  const rep2 = await pipelineFps('report', frames);
  await emulator.reset({ sanitize: 'off', heapSize: 16 * MIB, vioSize: MIB });
  emulator.clearFindings();
  return {
    latency: lat,
    threads,
    bandwidth: bw,
    pipeline: {
      frames,
      offFps: Math.max(off1.fps, off2.fps),
      reportFps: Math.max(rep1.fps, rep2.fps),
      findings: rep1.findings + rep2.findings,
    },
  };
}
