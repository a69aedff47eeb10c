/**
 * The benchmark suite as a function, for `npm run bench` (bench/run.ts) and `hbsys bench`.
 *
 * Every figure is measured against a baseline in the same run (these machines are shared
 * and noisy), and the aims are checked here, in the summary, never by a test. The quick run
 * measures fewer sizes and fewer operations, never fewer aims.
 */

import { type AllocatorResult, allocatorBench } from './allocator.bench.js';
import { type ApiResult, apiBench } from './api.bench.js';
import { type BpuResult, bpuBench } from './bpu.bench.js';
import { type CacheRow, cacheBench } from './cache.bench.js';
import { type ChurnResult, churnBench } from './churn.bench.js';
import { type CopyRow, copiesBench, copySizes, MIB } from './copies.bench.js';
import { type DnnResult, dnnBench } from './dnn.bench.js';
import { type FragResult, fragmentationBench } from './fragmentation.bench.js';
import {
  fmt,
  formatBytes,
  formatCount,
  fullGc,
  type MachineInfo,
  machineInfo,
  type TimeStats,
  table,
} from './measure.js';
import { type MemoryResult, memoryBench } from './memory.bench.js';
import { formatSanitizer, type SanitizerResult, sanitizerBench } from './sanitizer.bench.js';
import { type ThreadsResult, threadsBench } from './threads.bench.js';

export interface BenchOptions {
  /**
   * A short subset (about half a minute): every aim, on fewer sizes and operations (no
   * 1 million live, copies up to 16 MiB, the bare allocator at 1k live only, a read loop of
   * 1 million elements instead of 10 million under the sanitizer).
   */
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
  /**
   * 'met', 'missed', 'not run' (a missing baseline or a figure of the full run only), or
   * 'information' (a figure with no aim).
   */
  verdict: 'met' | 'missed' | 'not run' | 'information';
}

export interface BenchReport {
  machine: MachineInfo;
  quick: boolean;
  durationMs: number;
  allocator: AllocatorResult[];
  fragmentation: FragResult;
  api: ApiResult[];
  churn: ChurnResult;
  threads: ThreadsResult;
  copies: CopyRow[];
  cache: CacheRow[];
  memory: MemoryResult;
  bpu: BpuResult;
  dnn: DnnResult;
  sanitizer: SanitizerResult;
  summary: SummaryRow[];
}

/** Runs the suite; resolves with every figure and the summary. */
export async function runBenchSuite(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const began = performance.now();
  const steps = 11;
  let step = 0;
  const progress = (what: string) => options.onProgress?.(Math.min(1, step / steps), what);
  const next = (what: string) => {
    // Each section starts on a collected heap, so one section's garbage is not timed in the
    // next.
    fullGc();
    options.onProgress?.(step / steps, what);
    step++;
  };

  next('hbSysAllocMem + hbSysFreeMem');
  const api = await apiBench(quick ? 16_000 : 200_000, quick ? 200 : 2000);
  next('churn through the API at 100k live');
  const churn = await churnBench(100_000, quick ? 16_000 : 200_000);
  next('hbSys calls in a worker thread');
  const threads = await threadsBench(quick ? 8000 : 64_000, 2);
  next('bare allocator');
  const lives = quick ? [1000] : [1000, 100_000, 1_000_000];
  const allocator = allocatorBench(lives, quick ? 30_000 : 100_000, quick ? 200 : 500, progress);
  next('fragmentation');
  const fragmentation = await fragmentationBench(quick);
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
  next('the sanitizer: element reads, findings');
  const sanitizer = await sanitizerBench(quick);
  options.onProgress?.(1, 'done');

  const report: BenchReport = {
    machine: machineInfo(),
    quick,
    durationMs: performance.now() - began,
    allocator,
    fragmentation,
    api,
    churn,
    threads,
    copies,
    cache,
    memory,
    bpu,
    dnn,
    sanitizer,
    summary: [],
  };
  report.summary = summarize(report);
  return report;
}

const ns = (n: number) => `${fmt(n)} ns`;
const gb = (n: number) => `${fmt(n)} GB/s`;
const x = (n: number) => `${fmt(n)}×`;
const pct = (n: number) => `${fmt(n * 100)}%`;
const verdict = (ok: boolean): SummaryRow['verdict'] => (ok ? 'met' : 'missed');

function notRun(figure: string, aim: string): SummaryRow {
  return { figure, hbsys: '—', baseline: '—', ratio: '—', aim, verdict: 'not run' };
}

/**
 * A time against glibc's, with an aim of at most `bound` times it, checked on the median and
 * on the mean: the median alone would leave out the garbage collector's pauses, which land
 * in a few slow batches, and they are part of what a caller pays.
 */
function againstGlibc(
  figure: string,
  hbsys: TimeStats,
  glibc: TimeStats | undefined,
  bound: number,
  baselineName: string,
): SummaryRow {
  const aim = `≤ ${bound}× glibc (median and mean)`;
  const both = (st: TimeStats) => `${fmt(st.medianNs)} / ${fmt(st.meanNs)} ns`;
  if (glibc === undefined) return { ...notRun(figure, aim), hbsys: both(hbsys) };
  const median = hbsys.medianNs / glibc.medianNs;
  const mean = hbsys.meanNs / glibc.meanNs;
  return {
    figure,
    hbsys: both(hbsys),
    baseline: `${both(glibc)} ${baselineName}`,
    ratio: `${x(median)} / ${x(mean)}`,
    aim,
    verdict: verdict(median <= bound && mean <= bound),
  };
}

/** The aims, checked against this run's figures: first those of the API, then the rest. */
export function summarize(r: BenchReport): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const zeroed = 'glibc malloc+memset(0)+free';

  // --- the API's aims -------------------------------------------------------------------
  const pair = (kind: ApiResult['kind']) => r.api.find((a) => a.kind === kind);
  const fresh = pair('fresh');
  if (fresh) {
    rows.push(
      againstGlibc(
        'hbSysAllocMem+hbSysFreeMem 4 KiB, fresh mem per call, median / mean',
        fresh.hbsys,
        fresh.glibc,
        4,
        zeroed,
      ),
    );
  }
  const c = r.churn;
  rows.push(
    againstGlibc(
      `churn through the API at ${formatCount(c.live)} live (hbSysFreeMem + hbSysAllocMem, fresh mem), median / mean per op`,
      c.hbsys,
      c.glibc,
      4,
      'glibc free+malloc+memset(0)',
    ),
  );
  rows.push({
    figure: `GC share of that churn's time (${c.gcCount} collections)`,
    hbsys: `${pct(c.gcShare)} (${fmt(c.gcMs)} of ${fmt(c.wallMs)} ms)`,
    baseline: '— (glibc: no GC)',
    ratio: '—',
    aim: '≤ 15%',
    verdict: verdict(c.gcShare <= 0.15),
  });
  for (const kind of ['uncached', 'cached'] as const) {
    const a = pair(kind);
    if (!a) continue;
    rows.push(
      againstGlibc(
        `${kind === 'cached' ? 'hbSysAllocCachedMem' : 'hbSysAllocMem'}+hbSysFreeMem 1 MiB, fresh mem, median / mean`,
        a.hbsys,
        a.glibc,
        2.5,
        zeroed,
      ),
    );
  }
  const m = r.memory;
  rows.push({
    figure: `JS heap per live hbSysAllocMem at ${formatCount(m.live)} live, whole emulator and the mems, after a full GC`,
    hbsys: `${fmt(m.emulatorMeasured)} B`,
    baseline: `${fmt(m.plainObject)} B a plain { phyAddr, virAddr, memSize }`,
    ratio: x(m.emulatorMeasured / m.plainObject),
    aim: '≤ 200 B',
    verdict: verdict(m.emulatorMeasured <= 200),
  });
  const t = r.threads;
  for (const [name, key] of [
    ['4 KiB alloc+free pair, fresh mem', 'pair4k'],
    ['hbSysWriteMem 64 B', 'write64'],
  ] as const) {
    const ratio = t.worker[key].medianNs / t.main[key].medianNs;
    rows.push({
      figure: `${name} from a worker thread, median`,
      hbsys: ns(t.worker[key].medianNs),
      baseline: `${ns(t.main[key].medianNs)} main thread`,
      ratio: x(ratio),
      aim: '≤ 1.5× main thread',
      verdict: verdict(ratio <= 1.5),
    });
  }

  // --- copies, cache maintenance, BPU, models -------------------------------------------
  const big = r.copies.filter((cp) => cp.size >= MIB);
  const copyKinds = [
    ['hbSysWriteMem', 'hbSysWriteMem', 'setWrite'],
    ['hbSysReadMem', 'hbSysReadMem', 'setRead'],
    ['buffer.write', 'bufferWrite', 'setWrite'],
    ['buffer.read', 'bufferRead', 'setRead'],
  ] as const;
  for (const [name, key, base] of copyKinds) {
    let worst: CopyRow | undefined;
    for (const cp of big) if (!worst || cp[key] / cp[base] < worst[key] / worst[base]) worst = cp;
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
    for (const cr of r.cache) if (!worst || cr[key] / cr.copy < worst[key] / worst.copy) worst = cr;
    if (!worst) continue;
    const ratio = worst[key] / worst.copy;
    rows.push({
      figure: `${name} (worst size): ${formatBytes(worst.size)}`,
      hbsys: gb(worst[key]),
      baseline: `${gb(worst.copy)} copy`,
      ratio: x(ratio),
      aim,
      verdict: bound === 0 ? 'information' : verdict(bound === 1 ? ratio > 1 : ratio >= bound),
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
    figure: 'BPU 4 KiB copy, submit to complete, awaited: median / p99',
    hbsys: `${ns(b.latency.bpuMedianNs)} / ${ns(b.latency.bpuP99Ns)}`,
    baseline: `${ns(b.latency.atomicsMedianNs)} Atomics round trip to a worker that copies; ${ns(b.latency.setMedianNs)} in-thread set`,
    ratio: x(b.latency.bpuMedianNs / b.latency.atomicsMedianNs),
    aim: '— (information)',
    verdict: 'information',
  });
  const fromWorker = b.threads.workerMedianNs / b.threads.mainMedianNs;
  rows.push({
    figure: 'BPU 4 KiB copy from a worker thread, submit to complete, awaited: median',
    hbsys: ns(b.threads.workerMedianNs),
    baseline: `${ns(b.threads.mainMedianNs)} main thread (rounds alternated)`,
    ratio: x(fromWorker),
    aim: '≤ 1.5× main thread',
    verdict: verdict(fromWorker <= 1.5),
  });
  const cost = b.pipeline.offFps / b.pipeline.reportFps;
  rows.push({
    figure: 'sanitizer cost on the pipeline (report vs off), frames/s, no output check counted',
    hbsys: `${fmt(b.pipeline.reportFps)} fps report`,
    baseline: `${fmt(b.pipeline.offFps)} fps off`,
    ratio: x(cost),
    aim: '≤ 3× slower, 0 findings',
    verdict: verdict(cost <= 3 && b.pipeline.findings === 0),
  });

  const san = r.sanitizer;
  const loop = san.readLoop;
  rows.push({
    figure: `sanitizer: read loop of ${formatCount(loop.elements)} elements as mem.virAddr[i], cached, after INVALIDATE, median`,
    hbsys: `${fmt(loop.reportMs)} ms report`,
    baseline: `${fmt(loop.offMs)} ms the same loop, sanitizer off`,
    ratio: x(loop.ratio),
    aim: '≤ 2× sanitizer off',
    verdict: verdict(loop.ratio <= 2),
  });
  const found = san.findings;
  rows.push({
    figure: `sanitizer: ${formatCount(found.count)} distinct findings recorded (redundant flushes), median wall time`,
    hbsys: `${fmt(found.reportMs)} ms (${fmt(found.reportCpuMs)} ms CPU, least of 5)`,
    baseline: `${fmt(found.offMs)} ms the same calls, sanitizer off`,
    ratio: x(found.reportMs / found.offMs),
    aim: '< 100 ms',
    verdict: verdict(found.reportMs < 100),
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
  const task = r.dnn.task;
  rows.push({
    figure: 'task overhead: hbDNNInfer + hbDNNWaitTaskDone + release, trivial model, median',
    hbsys: `${ns(task.inferWait.medianNs)} blocking, ${ns(task.inferAwait.medianNs)} awaited`,
    baseline: `${ns(task.copy.medianNs)} BPU 16 B copy job`,
    ratio: x(task.inferWait.medianNs / task.copy.medianNs),
    aim: '— (information)',
    verdict: 'information',
  });

  const f = r.fragmentation;
  const peers = [f.thing, ...(f.glibc === undefined ? [] : [f.glibc])];
  const bestPeer = Math.max(...peers);
  rows.push({
    figure: 'fragmentation: mean live bytes / heap under pressure, after a churn at 70%',
    hbsys: fmt(f.hbsys),
    baseline: `thi.ng ${fmt(f.thing)}, glibc ${f.glibc === undefined ? '—' : fmt(f.glibc)}`,
    ratio: x(f.hbsys / bestPeer),
    aim: '≥ 0.9 and ≥ each peer',
    verdict: verdict(f.hbsys >= 0.9 && f.hbsys >= bestPeer),
  });
  rows.push({
    figure:
      'fragmentation as above, hbsys with 64 B pages (its allocator without 4 KiB page rounding)',
    hbsys: fmt(f.hbsysFinePages),
    baseline: `thi.ng ${fmt(f.thing)}, glibc ${f.glibc === undefined ? '—' : fmt(f.glibc)}`,
    ratio: x(f.hbsysFinePages / bestPeer),
    aim: '— (information)',
    verdict: 'information',
  });

  // --- information: the allocator alone, without the API --------------------------------
  const reused = pair('reused');
  if (reused) {
    rows.push({
      ...againstGlibc(
        'hbSysAllocMem+hbSysFreeMem 4 KiB, one mem reused, median / mean',
        reused.hbsys,
        reused.glibc,
        4,
        zeroed,
      ),
      aim: '— (information: the cost of the fresh mem)',
      verdict: 'information',
    });
  }
  const alloc = (live: number, w: 'pairs' | 'churn') =>
    r.allocator.find((a) => a.live === live && a.workload === w);
  for (const live of [1000, 100_000, 1_000_000]) {
    const a = alloc(live, 'churn');
    const h = a?.results.hbsys;
    if (h === undefined) continue;
    const g = a?.results.glibc;
    rows.push({
      figure: `bare allocator (TLSF alone, no API, no zeroing) churn at ${formatCount(live)} live, median`,
      hbsys: ns(h.medianNs),
      baseline: g ? `${ns(g.medianNs)} glibc malloc/free` : '—',
      ratio: g ? x(h.medianNs / g.medianNs) : '—',
      aim: '— (information)',
      verdict: 'information',
    });
  }
  rows.push({
    figure: `bare allocator metadata per live block at ${formatCount(m.live)} live`,
    hbsys: `${fmt(m.allocatorReported)} B metadataBytes()`,
    baseline: `${fmt(m.allocatorMeasured)} B heap growth`,
    ratio: '—',
    aim: '— (information)',
    verdict: 'information',
  });
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
  const stat = (st: TimeStats | undefined) =>
    st ? `${fmt(st.medianNs)} / ${fmt(st.p99Ns)} / ${fmt(st.meanNs)} ns` : '—';
  out.push(
    '\nhbSysAllocMem + hbSysFreeMem through the API, per pair (median / p99 / mean), against glibc malloc + memset(0) + free',
  );
  out.push(
    table(
      ['size', 'mem', 'hbsys', 'glibc', 'ratio of medians'],
      r.api.map((a) => [
        formatBytes(a.size),
        a.kind === 'reused' ? 'one reused' : a.kind === 'fresh' ? 'fresh' : `fresh, ${a.kind}`,
        stat(a.hbsys),
        stat(a.glibc),
        a.glibc ? x(a.hbsys.medianNs / a.glibc.medianNs) : '—',
      ]),
    ),
  );
  for (const n of new Set(r.api.flatMap((a) => a.notes))) out.push(`  note: ${n}`);

  const c = r.churn;
  out.push(
    `\nChurn through the API at ${formatCount(c.live)} live, ${formatCount(c.ops)} ops, per op (median / p99 / mean)`,
  );
  out.push(
    table(
      ['hbsys', 'glibc', 'ratio of means', 'GC share', 'collections'],
      [
        [
          stat(c.hbsys),
          stat(c.glibc),
          c.glibc ? x(c.hbsys.meanNs / c.glibc.meanNs) : '—',
          `${pct(c.gcShare)} (${fmt(c.gcMs)} of ${fmt(c.wallMs)} ms)`,
          String(c.gcCount),
        ],
      ],
    ),
  );
  for (const n of c.notes) out.push(`  note: ${n}`);

  const th = r.threads;
  out.push(
    '\nThe same calls in the main thread and in a worker thread, per call (median / p99 / mean)',
  );
  out.push(
    table(
      ['call', 'main thread', 'worker thread', 'ratio of medians'],
      (
        [
          ['4 KiB alloc+free pair, fresh mem', 'pair4k'],
          ['hbSysWriteMem 64 B', 'write64'],
        ] as const
      ).map(([name, key]) => [
        name,
        stat(th.main[key]),
        stat(th.worker[key]),
        x(th.worker[key].medianNs / th.main[key].medianNs),
      ]),
    ),
  );

  const mem = r.memory;
  out.push(`\nJS heap per live allocation at ${formatCount(mem.live)} live, after a full GC`);
  out.push(
    table(
      [
        'emulator + mems, per hbSysAllocMem',
        'plain { phyAddr, virAddr, memSize }',
        'bare allocator, measured',
        'bare allocator, metadataBytes()',
      ],
      [
        [
          `${fmt(mem.emulatorMeasured)} B`,
          `${fmt(mem.plainObject)} B`,
          `${fmt(mem.allocatorMeasured)} B`,
          `${fmt(mem.allocatorReported)} B`,
        ],
      ],
    ),
  );

  out.push(
    '\nBare allocator (information: the TLSF alone, no API, no zeroing), per operation (median / p99), same trace for every allocator',
  );
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
  out.push(
    '\nFragmentation (64 MiB heap): mean live bytes / heap under pressure after a churn at 70%; at the first failure; failed allocations',
  );
  out.push(
    `  hbsys with 64 B pages (its allocator without the board's 4 KiB page rounding): ${fmt(f.hbsysFinePages)}`,
  );
  const fr = (k: 'hbsys' | 'thing' | 'glibc') =>
    f[k] === undefined
      ? '—'
      : `${fmt(f[k])}; ${fmt(f.firstFailure[k] ?? Number.NaN)}; ${f.failedAllocs[k]}`;
  out.push(table(['hbsys', '@thi.ng/malloc', 'glibc'], [[fr('hbsys'), fr('thing'), fr('glibc')]]));
  for (const n of f.notes) out.push(`  note: ${n}`);

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

  const bp = r.bpu;
  out.push('\nBPU (worker over shared memory)');
  out.push(
    table(
      [
        '4 KiB copy median / p99',
        'the same from main / a worker thread',
        'Atomics round trip, worker copies',
        'in-thread set 4 KiB',
        `copy ${formatBytes(bp.bandwidth.size)}`,
        'in-thread set',
        'pipeline off',
        'pipeline report',
      ],
      [
        [
          `${fmt(bp.latency.bpuMedianNs)} / ${fmt(bp.latency.bpuP99Ns)} ns`,
          `${fmt(bp.threads.mainMedianNs)} / ${fmt(bp.threads.workerMedianNs)} ns`,
          `${fmt(bp.latency.atomicsMedianNs)} / ${fmt(bp.latency.atomicsP99Ns)} ns`,
          `${fmt(bp.latency.setMedianNs)} ns`,
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

  out.push('\nThe sanitizer against the same work with it off (median; CPU time: least of 5)');
  out.push(formatSanitizer(r.sanitizer));

  out.push('\nSummary');
  out.push(
    table(
      ['figure', 'hbsys', 'baseline', 'ratio', 'aim', 'met/missed'],
      r.summary.map((s) => [s.figure, s.hbsys, s.baseline, s.ratio, s.aim, s.verdict]),
    ),
  );
  return out.join('\n');
}
