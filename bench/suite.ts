/**
 * The benchmark suite as a function, for `npm run bench` (bench/run.ts) and `hbsys bench`.
 *
 * Every figure is measured against a baseline in the same run (these machines are shared
 * and noisy), and the aims of issues 6 and 9 are checked here, in the summary, never by a test.
 */

import { type AllocatorResult, allocatorBench } from './allocator.bench.js';
import { type ApiResult, apiBench } from './api.bench.js';
import { type BpuResult, bpuBench } from './bpu.bench.js';
import { type CacheRow, cacheBench } from './cache.bench.js';
import { type CopyRow, copiesBench, copySizes, MIB } from './copies.bench.js';
import { type DnnResult, dnnBench } from './dnn.bench.js';
import { type FragResult, fragmentationBench } from './fragmentation.bench.js';
import { fmt, formatBytes, formatCount, type MachineInfo, machineInfo, table } from './measure.js';
import { type MemoryResult, memoryBench } from './memory.bench.js';

export interface BenchOptions {
  /** A short subset (about half a minute): no 1 million live, copies up to 16 MiB. */
  quick?: boolean;
  /** Called as each step starts: the fraction done (0 … 1) and what runs now. */
  onProgress?: (fraction: number, step: string) => void;
}

/** One line of the summary: a figure of hbsys against its baseline and its aim. */
export interface SummaryRow {
  figure: string;
  hbsys: string;
  baseline: string;
  ratio: string;
  aim: string;
  /** 'met', 'missed', or 'not run' (quick mode, a missing baseline). */
  verdict: 'met' | 'missed' | 'not run';
}

export interface BenchReport {
  machine: MachineInfo;
  quick: boolean;
  durationMs: number;
  allocator: AllocatorResult[];
  fragmentation: FragResult;
  api: ApiResult[];
  copies: CopyRow[];
  cache: CacheRow[];
  memory: MemoryResult;
  bpu: BpuResult;
  dnn: DnnResult;
  summary: SummaryRow[];
}

/** Runs the suite; resolves with every figure and the summary. */
export async function runBenchSuite(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const began = performance.now();
  const steps = 8;
  let step = 0;
  const progress = (what: string) => options.onProgress?.(Math.min(1, step / steps), what);
  const next = (what: string) => {
    // Each section starts on a collected heap (with --expose-gc), so one section's garbage
    // is not timed in the next.
    (globalThis as { gc?: () => void }).gc?.();
    options.onProgress?.(step / steps, what);
    step++;
  };

  next('allocator');
  const lives = quick ? [1000, 100_000] : [1000, 100_000, 1_000_000];
  const allocator = allocatorBench(lives, quick ? 30_000 : 100_000, quick ? 200 : 500, progress);
  next('fragmentation');
  const fragmentation = await fragmentationBench();
  next('hbSysAllocMem + hbSysFreeMem');
  const api = await apiBench(quick ? 150 : 500);
  next('copies');
  const sizes = copySizes(quick);
  const copies = await copiesBench(sizes, quick ? 100 : 300, progress);
  next('cache maintenance');
  const cache = await cacheBench(sizes, quick ? 100 : 300, progress);
  next('metadata per allocation');
  const memory = await memoryBench(quick ? 100_000 : 1_000_000);
  next('BPU');
  const bpu = await bpuBench(quick, progress);
  next('models');
  const dnn = await dnnBench(quick, progress);
  options.onProgress?.(1, 'done');

  const report: BenchReport = {
    machine: machineInfo(),
    quick,
    durationMs: performance.now() - began,
    allocator,
    fragmentation,
    api,
    copies,
    cache,
    memory,
    bpu,
    dnn,
    summary: [],
  };
  report.summary = summarize(report);
  return report;
}

const ns = (n: number) => `${fmt(n)} ns`;
const gb = (n: number) => `${fmt(n)} GB/s`;
const x = (n: number) => `${fmt(n)}×`;
const verdict = (ok: boolean): SummaryRow['verdict'] => (ok ? 'met' : 'missed');

function notRun(figure: string, aim: string): SummaryRow {
  return { figure, hbsys: '—', baseline: '—', ratio: '—', aim, verdict: 'not run' };
}

/** The aims of issues 6 and 9, checked against this run's figures. */
export function summarize(r: BenchReport): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const alloc = (live: number, w: 'pairs' | 'churn') =>
    r.allocator.find((a) => a.live === live && a.workload === w);

  for (const [live, bound] of [
    [1000, 2],
    [100_000, 1],
    [1_000_000, 1],
  ] as const) {
    const figure = `allocator churn at ${formatCount(live)} live, median per op`;
    const aim = bound === 1 ? '≤ 1× glibc' : `≤ ${bound}× glibc`;
    const a = alloc(live, 'churn');
    const g = a?.results.glibc;
    if (a?.results.hbsys === undefined || g === undefined) {
      rows.push(notRun(figure, aim));
      continue;
    }
    const ratio = a.results.hbsys.medianNs / g.medianNs;
    rows.push({
      figure,
      hbsys: ns(a.results.hbsys.medianNs),
      baseline: `${ns(g.medianNs)} glibc`,
      ratio: x(ratio),
      aim,
      verdict: verdict(ratio <= bound),
    });
  }
  const pair = alloc(1_000_000, 'pairs');
  if (pair?.results.hbsys) {
    const g = pair.results.glibc;
    rows.push({
      figure: 'allocator alloc+free pair at 1M live, median',
      hbsys: ns(pair.results.hbsys.medianNs),
      baseline: g ? `${ns(g.medianNs)} glibc` : '—',
      ratio: g ? x(pair.results.hbsys.medianNs / g.medianNs) : '—',
      aim: '≤ 100 ns',
      verdict: verdict(pair.results.hbsys.medianNs <= 100),
    });
  } else {
    rows.push(notRun('allocator alloc+free pair at 1M live, median', '≤ 100 ns'));
  }
  const churn1m = alloc(1_000_000, 'churn');
  if (churn1m?.results.hbsys) {
    const h = churn1m.results.hbsys;
    const g = churn1m.results.glibc;
    rows.push({
      figure: 'allocator churn at 1M live, p99 / median',
      hbsys: `${ns(h.p99Ns)} / ${ns(h.medianNs)}`,
      baseline: g ? `glibc ${x(g.p99Ns / g.medianNs)}` : '—',
      ratio: x(h.p99Ns / h.medianNs),
      aim: '≤ 3×',
      verdict: verdict(h.p99Ns <= 3 * h.medianNs),
    });
  } else {
    rows.push(notRun('allocator churn at 1M live, p99 / median', '≤ 3×'));
  }

  const f = r.fragmentation;
  const peers = [f.thing, ...(f.glibc === undefined ? [] : [f.glibc])];
  const bestPeer = Math.max(...peers);
  rows.push({
    figure: 'fragmentation: allocated at first failure / heap',
    hbsys: fmt(f.hbsys),
    baseline: `thi.ng ${fmt(f.thing)}, glibc ${f.glibc === undefined ? '—' : fmt(f.glibc)}`,
    ratio: x(f.hbsys / bestPeer),
    aim: '≥ 0.9 and ≥ each peer',
    verdict: verdict(f.hbsys >= 0.9 && f.hbsys >= bestPeer),
  });

  for (const a of r.api) {
    const small = a.size === 4096;
    rows.push({
      figure: `hbSysAllocMem+hbSysFreeMem ${formatBytes(a.size)}, median`,
      hbsys: ns(a.hbsys.medianNs),
      baseline: `${ns(a.arrayBuffer.medianNs)} new ArrayBuffer`,
      ratio: x(a.hbsys.medianNs / a.arrayBuffer.medianNs),
      aim: small ? '≤ 1000 ns' : '— (information)',
      verdict: small ? verdict(a.hbsys.medianNs <= 1000) : 'met',
    });
  }

  const big = r.copies.filter((c) => c.size >= MIB);
  const copyKinds = [
    ['hbSysWriteMem', 'hbSysWriteMem', 'setWrite'],
    ['hbSysReadMem', 'hbSysReadMem', 'setRead'],
    ['buffer.write', 'bufferWrite', 'setWrite'],
    ['buffer.read', 'bufferRead', 'setRead'],
  ] as const;
  for (const [name, key, base] of copyKinds) {
    let worst: CopyRow | undefined;
    for (const c of big) if (!worst || c[key] / c[base] < worst[key] / worst[base]) worst = c;
    const figure = `${name} ≥ 1 MiB (worst size)`;
    if (!worst) {
      rows.push(notRun(figure, '≥ 0.9× set'));
      continue;
    }
    const ratio = worst[key] / worst[base];
    rows.push({
      figure: `${figure}: ${formatBytes(worst.size)}`,
      hbsys: gb(worst[key]),
      baseline: `${gb(worst[base])} set`,
      ratio: x(ratio),
      aim: '≥ 0.9× set',
      verdict: verdict(ratio >= 0.9),
    });
  }

  const cacheAims = [
    ['CLEAN fully dirty', 'cleanDirty', 0.5, '≥ 0.5× copy'],
    ['CLEAN untouched', 'cleanUntouched', 1, '> 1× copy'],
    ['INVALIDATE', 'invalidate', 0, '— (information)'],
  ] as const;
  for (const [name, key, bound, aim] of cacheAims) {
    let worst: CacheRow | undefined;
    for (const c of r.cache) if (!worst || c[key] / c.copy < worst[key] / worst.copy) worst = c;
    if (!worst) continue;
    const ratio = worst[key] / worst.copy;
    rows.push({
      figure: `${name} (worst size): ${formatBytes(worst.size)}`,
      hbsys: gb(worst[key]),
      baseline: `${gb(worst.copy)} copy`,
      ratio: x(ratio),
      aim,
      verdict: bound === 0 ? 'met' : verdict(bound === 1 ? ratio > 1 : ratio >= bound),
    });
  }

  const b = r.bpu;
  rows.push({
    figure: `BPU copy bandwidth, ${formatBytes(b.bandwidth.size)} (worker, shared memory)`,
    hbsys: gb(b.bandwidth.bpuGBps),
    baseline: `${gb(b.bandwidth.setGBps)} in-thread set`,
    ratio: x(b.bandwidth.bpuGBps / b.bandwidth.setGBps),
    aim: '≥ 0.8× set',
    verdict: verdict(b.bandwidth.bpuGBps / b.bandwidth.setGBps >= 0.8),
  });
  rows.push({
    figure: 'BPU 4 KiB copy, submit to complete: median / p99',
    hbsys: `${ns(b.latency.bpuMedianNs)} / ${ns(b.latency.bpuP99Ns)}`,
    baseline: `${ns(b.latency.immediateMedianNs)} setImmediate, ${ns(b.latency.postMessageMedianNs)} postMessage`,
    ratio: x(b.latency.bpuMedianNs / b.latency.postMessageMedianNs),
    aim: '— (information)',
    verdict: 'met',
  });
  const cost = b.pipeline.offFps / b.pipeline.reportFps;
  rows.push({
    figure: 'sanitizer cost on the pipeline (report vs off), frames/s',
    hbsys: `${fmt(b.pipeline.reportFps)} fps report`,
    baseline: `${fmt(b.pipeline.offFps)} fps off`,
    ratio: x(cost),
    aim: '≤ 3× slower, 0 findings',
    verdict: verdict(cost <= 3 && b.pipeline.findings === 0),
  });

  const inf = r.dnn.inference;
  const infFigure =
    'model inference, PP-OCRv4 det 320x256 NV12 (write, CLEAN, infer, wait, INVALIDATE, read), median';
  if ('skipped' in inf) {
    rows.push(notRun(infFigure, '≤ 1.15× ONNX runtime directly'));
  } else {
    rows.push({
      figure: infFigure,
      hbsys: `${fmt(inf.hbsys.medianNs / 1e6)} ms`,
      baseline: `${fmt(inf.direct.medianNs / 1e6)} ms onnxruntime-web session.run, one thread`,
      ratio: x(inf.ratio),
      aim: '≤ 1.15× ONNX runtime directly',
      verdict: verdict(inf.ratio <= 1.15),
    });
  }
  const t = r.dnn.task;
  rows.push({
    figure: 'task overhead: hbDNNInfer + hbDNNWaitTaskDone + release, trivial model, median',
    hbsys: `${ns(t.inferWait.medianNs)} blocking, ${ns(t.inferAwait.medianNs)} awaited`,
    baseline: `${ns(t.copy.medianNs)} BPU 16 B copy job`,
    ratio: x(t.inferWait.medianNs / t.copy.medianNs),
    aim: '— (information)',
    verdict: 'met',
  });

  const m = r.memory;
  // Heap growth is a measurement only after a forced GC (node --expose-gc, as npm run bench
  // does); without it a collection in the middle can make it anything, even negative.
  const measured = m.gcExposed && m.allocatorMeasured > 0;
  rows.push({
    figure: `allocator metadata per live allocation at ${formatCount(m.live)} live`,
    hbsys: `${fmt(m.allocatorReported)} B metadataBytes()`,
    baseline: measured
      ? `${fmt(m.allocatorMeasured)} B heap growth`
      : 'heap growth not measured (no --expose-gc)',
    ratio: '—',
    aim: '≤ 100 B',
    verdict: verdict(m.allocatorReported <= 100 && (!measured || m.allocatorMeasured <= 100)),
  });
  if (m.gcExposed && m.emulatorMeasured > 0) {
    rows.push({
      figure: `emulator bytes per live hbSysAllocMem at ${formatCount(m.live)} live`,
      hbsys: `${fmt(m.emulatorMeasured)} B`,
      baseline: '—',
      ratio: '—',
      aim: '— (information)',
      verdict: 'met',
    });
  } else {
    rows.push(
      notRun(
        `emulator bytes per live hbSysAllocMem at ${formatCount(m.live)} live`,
        '— (information; needs --expose-gc)',
      ),
    );
  }
  return rows;
}

/** Every section as a table, then the summary. */
export function formatReport(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `hbsys benchmarks${r.quick ? ' (quick)' : ''}: ${m.cpuModel}, ${m.cores} cores, Node ${m.node}, ` +
      `${(r.durationMs / 1000).toFixed(0)} s`,
  );
  out.push('\nAllocator, per operation (median / p99), same trace for every allocator');
  out.push(
    table(
      ['live', 'workload', 'hbsys TLSF', 'glibc', '@thi.ng/malloc', 'new ArrayBuffer'],
      r.allocator.map((a) => [
        formatCount(a.live),
        a.workload,
        ...(['hbsys', 'glibc', 'thi.ng', 'ArrayBuffer'] as const).map((k) => {
          const s = a.results[k];
          if (!s) return '—';
          const partial =
            k === 'thi.ng' && a.notes.some((n) => n.includes('thi.ng')) ? ` (${s.ops} ops)` : '';
          return `${fmt(s.medianNs)} / ${fmt(s.p99Ns)} ns${partial}`;
        }),
      ]),
    ),
  );
  const notes = r.allocator.flatMap((a) =>
    a.notes.map((n) => `${formatCount(a.live)} ${a.workload}: ${n}`),
  );
  if (notes.length > 0) out.push(notes.map((n) => `  note: ${n}`).join('\n'));

  const f = r.fragmentation;
  out.push('\nFragmentation: bytes allocated at the first failure / heap size (64 MiB)');
  out.push(
    table(
      ['hbsys', '@thi.ng/malloc', 'glibc'],
      [[fmt(f.hbsys), fmt(f.thing), f.glibc === undefined ? '—' : fmt(f.glibc)]],
    ),
  );
  for (const n of f.notes) out.push(`  note: ${n}`);

  out.push('\nhbSysAllocMem + hbSysFreeMem, per pair (median / p99)');
  out.push(
    table(
      ['size', 'hbsys', 'new ArrayBuffer'],
      r.api.map((a) => [
        formatBytes(a.size),
        `${fmt(a.hbsys.medianNs)} / ${fmt(a.hbsys.p99Ns)} ns`,
        `${fmt(a.arrayBuffer.medianNs)} / ${fmt(a.arrayBuffer.p99Ns)} ns`,
      ]),
    ),
  );

  out.push('\nCopies, GB/s (median); ratio to Uint8Array.prototype.set on the same memory');
  out.push(
    table(
      ['size', 'set →', 'hbSysWriteMem', 'buffer.write', '← set', 'hbSysReadMem', 'buffer.read'],
      r.copies.map((c) => [
        formatBytes(c.size),
        fmt(c.setWrite),
        `${fmt(c.hbSysWriteMem)} (${x(c.hbSysWriteMem / c.setWrite)})`,
        `${fmt(c.bufferWrite)} (${x(c.bufferWrite / c.setWrite)})`,
        fmt(c.setRead),
        `${fmt(c.hbSysReadMem)} (${x(c.hbSysReadMem / c.setRead)})`,
        `${fmt(c.bufferRead)} (${x(c.bufferRead / c.setRead)})`,
      ]),
    ),
  );

  out.push('\nCache maintenance, GB/s (median); ratio to the copy baseline');
  out.push(
    table(
      ['size', 'copy', 'CLEAN dirty', 'CLEAN untouched', 'INVALIDATE'],
      r.cache.map((c) => [
        formatBytes(c.size),
        fmt(c.copy),
        `${fmt(c.cleanDirty)} (${x(c.cleanDirty / c.copy)})`,
        `${fmt(c.cleanUntouched)} (${x(c.cleanUntouched / c.copy)})`,
        `${fmt(c.invalidate)} (${x(c.invalidate / c.copy)})`,
      ]),
    ),
  );

  const mem = r.memory;
  out.push(
    `\nMetadata per live allocation at ${formatCount(mem.live)} live${mem.gcExposed ? '' : ' (no --expose-gc: approximate)'}`,
  );
  out.push(
    table(
      ['allocator, measured', 'allocator, metadataBytes()', 'emulator per hbSysAllocMem'],
      [
        [
          `${fmt(mem.allocatorMeasured)} B`,
          `${fmt(mem.allocatorReported)} B`,
          `${fmt(mem.emulatorMeasured)} B`,
        ],
      ],
    ),
  );

  const bp = r.bpu;
  out.push('\nBPU (worker over shared memory)');
  out.push(
    table(
      [
        '4 KiB copy median / p99',
        'setImmediate',
        'worker postMessage',
        `copy ${formatBytes(bp.bandwidth.size)}`,
        'in-thread set',
        'pipeline off',
        'pipeline report',
      ],
      [
        [
          `${fmt(bp.latency.bpuMedianNs)} / ${fmt(bp.latency.bpuP99Ns)} ns`,
          `${fmt(bp.latency.immediateMedianNs)} ns`,
          `${fmt(bp.latency.postMessageMedianNs)} ns`,
          `${fmt(bp.bandwidth.bpuGBps)} GB/s`,
          `${fmt(bp.bandwidth.setGBps)} GB/s`,
          `${fmt(bp.pipeline.offFps)} fps`,
          `${fmt(bp.pipeline.reportFps)} fps (${bp.pipeline.findings} findings)`,
        ],
      ],
    ),
  );

  const d = r.dnn;
  out.push('\nModels on the BPU (median / p99)');
  out.push(
    table(
      ['figure', 'hbsys', 'baseline'],
      [
        'skipped' in d.inference
          ? ['PP-OCRv4 det inference', `not run: ${d.inference.skipped}`, '—']
          : [
              `PP-OCRv4 det ${d.inference.width}x${d.inference.height}, ${d.inference.rounds} rounds`,
              `${fmt(d.inference.hbsys.medianNs / 1e6)} / ${fmt(d.inference.hbsys.p99Ns / 1e6)} ms`,
              `${fmt(d.inference.direct.medianNs / 1e6)} / ${fmt(d.inference.direct.p99Ns / 1e6)} ms onnxruntime-web directly`,
            ],
        ...('skipped' in d.inference
          ? []
          : [
              [
                'PP-OCRv4 det: load, then the first inference',
                `${fmt(d.inference.first.load)} ms, then ${fmt(d.inference.first.infer)} ms`,
                `${fmt(d.inference.first.directLoad)} ms, then ${fmt(d.inference.first.directRun)} ms onnxruntime-web directly`,
              ],
            ]),
        [
          'trivial model task, blocking wait',
          `${fmt(d.task.inferWait.medianNs)} / ${fmt(d.task.inferWait.p99Ns)} ns`,
          `${fmt(d.task.copy.medianNs)} / ${fmt(d.task.copy.p99Ns)} ns BPU 16 B copy`,
        ],
        [
          'trivial model task, promise wait',
          `${fmt(d.task.inferAwait.medianNs)} / ${fmt(d.task.inferAwait.p99Ns)} ns`,
          '',
        ],
      ],
    ),
  );

  out.push('\nSummary');
  out.push(
    table(
      ['figure', 'hbsys', 'baseline', 'ratio', 'aim', 'met/missed'],
      r.summary.map((s) => [s.figure, s.hbsys, s.baseline, s.ratio, s.aim, s.verdict]),
    ),
  );
  return out.join('\n');
}
