/**
 * Shared measuring tools of the benchmark suite: machine details, a seeded random source,
 * order statistics, tinybench runs reduced to per-operation figures, and the C replayer.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';

/** The repository root, found from this file whether it runs from bench/ or build/bench/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** What the figures were measured on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryBytes: number;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    date: new Date().toISOString(),
  };
}

/** A small seeded PRNG (mulberry32), so every contestant replays the same trace. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The q-quantile (0 … 1) of `values` (nearest rank); sorts a copy. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Median and p99 of per-operation nanoseconds. */
export interface OpStats {
  medianNs: number;
  p99Ns: number;
  /** Operations measured. */
  ops: number;
}

/** Median, p99 and mean of per-operation nanoseconds. */
export interface TimeStats extends OpStats {
  /**
   * Total time / operations: unlike the median, it carries the rare slow batch (a GC pause,
   * a page fault), so it is the figure for workloads whose cost includes collection.
   */
  meanNs: number;
}

export function opStats(perOpNs: ArrayLike<number>, ops: number): TimeStats {
  let sum = 0;
  for (let i = 0; i < perOpNs.length; i++) sum += perOpNs[i]!;
  return {
    medianNs: quantile(perOpNs, 0.5),
    p99Ns: quantile(perOpNs, 0.99),
    meanNs: perOpNs.length > 0 ? sum / perOpNs.length : Number.NaN,
    ops,
  };
}

/** The cost of one performance.now() pair, the smallest of many, in ns. */
export function timerCostNs(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 2000; i++) {
    const a = performance.now();
    const b = performance.now();
    if (b - a < best) best = b - a;
  }
  return best * 1e6;
}

/**
 * Times `batches` calls of `run(first)`, each doing `batch` operations from `first` on, with
 * one clock read per batch (as bench/malloc-replay.c does); per-operation nanoseconds of
 * each batch, less the clock's own cost.
 */
export function timeBatches(
  batches: number,
  batch: number,
  timerNs: number,
  run: (first: number) => void,
): Float64Array {
  const ms = new Float64Array(batches);
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    run(b * batch);
    ms[b] = performance.now() - t0;
  }
  const out = new Float64Array(batches);
  for (let i = 0; i < batches; i++) out[i] = Math.max(0, ms[i]! * 1e6 - timerNs) / batch;
  return out;
}

/**
 * A full garbage collection, with or without `node --expose-gc`: without the flag, V8's
 * `gc` is exposed at run time (v8.setFlagsFromString) and taken from a fresh context, so
 * `hbsys bench` measures heap figures as `npm run bench` does.
 */
export function fullGc(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    (globalThis as { gc?: () => void }).gc = gc;
  }
  gc();
  gc();
}

/**
 * Runs `fn` (which does `reps` operations) under tinybench and returns the median and p99
 * per operation in nanoseconds. Repeating inside `fn` keeps each sample well above the
 * timer's resolution and overhead for sub-microsecond operations.
 */
export function tiny(
  name: string,
  fn: () => void,
  reps: number,
  opts: { timeMs: number; beforeEach?: () => void; minIterations?: number },
): TimeStats {
  const bench = new Bench({
    time: opts.timeMs,
    iterations: opts.minIterations ?? 10,
    warmupTime: Math.min(100, opts.timeMs / 4),
    warmupIterations: 3,
    retainSamples: false,
  });
  bench.add(name, fn, opts.beforeEach ? { beforeEach: opts.beforeEach } : {});
  const [task] = bench.runSync();
  const r = task?.result;
  if (r === undefined || !('latency' in r)) {
    const why = r !== undefined && 'error' in r ? String(r.error) : 'no result';
    throw new Error(`benchmark ${name} failed: ${why}`);
  }
  return {
    medianNs: (r.latency.p50 * 1e6) / reps,
    p99Ns: (r.latency.p99 * 1e6) / reps,
    meanNs: (r.latency.mean * 1e6) / reps,
    ops: r.latency.samplesCount * reps,
  };
}

/** Bytes per second to GB/s (10^9). */
export function gbps(bytes: number, ns: number): number {
  return bytes / ns;
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

export function formatCount(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/** A plain text table with a header row; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => {
        const right = i > 0 && /^[-+0-9.,]+( ?[a-zA-Z/µ%×]*)?$/.test(c);
        return right ? c.padStart(widths[i]!) : c.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n');
}

/** A number with three significant digits (more for large integers). */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toString();
  return Number(n.toPrecision(3)).toString();
}

/**
 * The glibc replayer (bench/malloc-replay.c), built with gcc on first use into .tmp/.
 * Returns its path, or a reason why it is unavailable.
 */
export function buildReplayer(): { path: string } | { missing: string } {
  const root = repoRoot();
  const source = join(root, 'bench', 'malloc-replay.c');
  if (!existsSync(source)) return { missing: `${source} not found` };
  const outDir = resolve(root, '.tmp');
  mkdirSync(outDir, { recursive: true });
  const binary = join(outDir, 'malloc-replay');
  try {
    if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
      execFileSync('gcc', ['-O2', '-std=c11', '-o', binary, source], { stdio: 'pipe' });
    }
    return { path: binary };
  } catch (error) {
    const e = error as { message?: string; stderr?: Buffer };
    return { missing: `gcc failed: ${e.stderr?.toString().trim() || e.message}` };
  }
}

/**
 * A trace for the replayer (int32, little-endian): N, M, BATCH, then N setup sizes,
 * M victims, M sizes.
 */
export function writeReplayTrace(
  path: string,
  t: { setup: Int32Array; victims: Int32Array; sizes: Int32Array },
  batch: number,
): void {
  const n = t.setup.length;
  const m = t.sizes.length;
  const data = new Int32Array(3 + n + 2 * m);
  data.set([n, m, batch]);
  data.set(t.setup, 3);
  data.set(t.victims, 3 + n);
  data.set(t.sizes, 3 + n + m);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, new Uint8Array(data.buffer));
}

/**
 * glibc replaying a trace file (`churn` or `pairs`; `zero`: memset(0) after each malloc;
 * the first `warm` operations untimed): per-operation nanoseconds of each batch, as the JS
 * side measures them (opStats makes the figures).
 */
export function replayGlibcBatches(
  binary: string,
  workload: 'churn' | 'pairs',
  file: string,
  batch: number,
  zero: boolean,
  warm = 0,
): Float64Array {
  const args = [workload, file, zero ? 'zero' : 'plain', String(warm)];
  const out = runReplayer(binary, args) as {
    timerNs: number;
    batchNs: number[];
  };
  return Float64Array.from(out.batchNs, (ns) => Math.max(0, ns - out.timerNs) / batch);
}

/** The batches of several rounds as one series. */
export function concatBatches(rounds: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(rounds.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rounds) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/** Runs the replayer on a trace file; it prints one JSON object. */
export function runReplayer(binary: string, args: string[]): unknown {
  const out = execFileSync(binary, args, {
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.toString());
}
