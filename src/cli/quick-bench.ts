/**
 * A small benchmark run for `hbsys bench`, behind the signature of the full suite
 * (`runBenchSuite({ quick, onProgress })`, bench/suite.ts) that replaces it once it lands.
 * Each case is measured beside a baseline of the same work on plain host memory, in the
 * same run, and reported as a ratio.
 */

import { allocate } from '../buffer.js';
import { emulator } from '../emulator/index.js';
import { hbSysAllocMem, hbSysFlushMem, hbSysFreeMem } from '../hbsys.js';
import { HB_SYS_MEM_CACHE_CLEAN, HB_SYS_MEM_CACHE_INVALIDATE } from '../mem.js';

export interface BenchSuiteOptions {
  /** Fewer iterations: a smoke run in seconds. */
  quick?: boolean;
  /** Called after each case. */
  onProgress?: (done: number, total: number, name: string) => void;
}

export interface BenchCaseResult {
  name: string;
  iterations: number;
  /** Mean time per operation, in nanoseconds. */
  nsPerOp: number;
  /** The baseline's mean time per operation, and how many times slower hbsys is. */
  baseline: string;
  baselineNsPerOp: number;
  ratio: number;
}

export interface BenchSuiteResult {
  quick: boolean;
  cases: BenchCaseResult[];
}

interface BenchCase {
  name: string;
  baseline: string;
  setup(): { run(): void | Promise<void>; base(): void; teardown(): void };
}

const MIB = 1 << 20;

const CASES: BenchCase[] = [
  {
    name: 'hbSysAllocMem + hbSysFreeMem, 4 KiB',
    baseline: 'new Uint8Array(4096)',
    setup() {
      const mem = { phyAddr: 0n, virAddr: null, memSize: 0 };
      let sink: Uint8Array | undefined;
      return {
        run() {
          hbSysAllocMem(mem, 4096);
          hbSysFreeMem(mem);
        },
        base() {
          sink = new Uint8Array(4096);
        },
        teardown() {
          void sink;
        },
      };
    },
  },
  {
    name: 'write + CLEAN, 1 MiB cached',
    baseline: 'Uint8Array.set, 1 MiB',
    setup() {
      const buf = allocate(MIB, { cached: true, label: 'bench' });
      const src = new Uint8Array(MIB).fill(7);
      const host = new Uint8Array(MIB);
      return {
        run() {
          buf.bytes.set(src);
          hbSysFlushMem(buf.mem, HB_SYS_MEM_CACHE_CLEAN);
        },
        base: () => host.set(src),
        teardown: () => buf.free(),
      };
    },
  },
  {
    name: 'INVALIDATE + read, 1 MiB cached',
    baseline: 'Uint8Array.set, 1 MiB',
    setup() {
      const buf = allocate(MIB, { cached: true, label: 'bench' });
      const dst = new Uint8Array(MIB);
      const host = new Uint8Array(MIB);
      return {
        run() {
          hbSysFlushMem(buf.mem, HB_SYS_MEM_CACHE_INVALIDATE);
          dst.set(buf.bytes);
        },
        base: () => dst.set(host),
        teardown: () => buf.free(),
      };
    },
  },
  {
    name: 'BPU copy, 1 MiB',
    baseline: 'Buffer.copy, 1 MiB',
    setup() {
      const a = allocate(MIB, { label: 'bench src' });
      const b = allocate(MIB, { label: 'bench dst' });
      const x = Buffer.alloc(MIB);
      const y = Buffer.alloc(MIB);
      return {
        run: () => emulator.bpu.copy(b.phyAddr, a.phyAddr, MIB),
        base: () => void x.copy(y),
        teardown() {
          a.free();
          b.free();
        },
      };
    },
  },
];

async function measure(iterations: number, op: () => void | Promise<void>): Promise<number> {
  await op(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await op();
  return Number(process.hrtime.bigint() - start) / iterations;
}

/** Runs every case on the current machine; leaves nothing allocated. */
export async function runBenchSuite(options: BenchSuiteOptions = {}): Promise<BenchSuiteResult> {
  const quick = options.quick ?? false;
  const iterations = quick ? 50 : 1000;
  const cases: BenchCaseResult[] = [];
  for (const c of CASES) {
    const s = c.setup();
    try {
      const nsPerOp = await measure(iterations, s.run);
      const baselineNsPerOp = await measure(iterations, s.base);
      cases.push({
        name: c.name,
        iterations,
        nsPerOp,
        baseline: c.baseline,
        baselineNsPerOp,
        ratio: baselineNsPerOp > 0 ? nsPerOp / baselineNsPerOp : 0,
      });
    } finally {
      s.teardown();
    }
    options.onProgress?.(cases.length, CASES.length, c.name);
  }
  return { quick, cases };
}
