/**
 * The C stand-in for libdnn (test/fixtures/libdnn-standin), built for the tests, and its
 * test-only exports. The stand-in is a test double for the ABI of the hbSys functions
 * (libdnn-standin.c) and of the hbDNN functions (hb_dnn_standin.c), compiled together into
 * one libdnn.so: it proves marshalling and lifetimes, not the vendor's behaviour.
 *
 * The hbDNN half is built in several variants ({@link DNN_VARIANTS}): one per struct
 * generation of libdnn, with the version string and optional symbols of that release, and
 * two with versions whose generation must be probed.
 *
 * Building: `$CC` (default gcc) compiles it into a directory under the system temp
 * directory named by a hash of the sources and the compiler, so the test files, which run
 * in parallel processes, build it once and share it; the output is renamed into place, so
 * no process sees a half-written library. `HBSYS_TEST_LIBDNN` names a prebuilt default
 * stand-in instead. `HBSYS_TEST_EXEC` is a command that runs the compiled layout probes (for
 * example `qemu-aarch64-static -L /usr/aarch64-linux-gnu`).
 *
 * This helper is the only test code that loads koffi, for the stand-in's extra exports.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fixture sources, found from build/test/native/ (compiled) or test/native/. */
const fixtures = fileURLToPath(new URL('../../../test/fixtures/libdnn-standin/', import.meta.url));

const compiler = (): string => process.env.CC || 'gcc';

const HEADERS = ['hb_sys_abi.h', 'hb_dnn_abi.h'];

/** Compiles `sources` (in the fixtures) with `args` into `name`, once per content; its path. */
function build(sources: readonly string[], name: string, args: readonly string[]): string {
  const cc = compiler();
  const hash = createHash('sha256');
  for (const file of [...sources, ...HEADERS]) hash.update(readFileSync(join(fixtures, file)));
  hash.update(`${cc}\0${args.join('\0')}\0${sources.join('\0')}`);
  const dir = join(tmpdir(), `hbsys-standin-${hash.digest('hex').slice(0, 16)}`);
  const out = join(dir, name);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const partial = `${out}.${process.pid}.partial`;
  const files = sources.map((f) => join(fixtures, f));
  execFileSync(cc, [...args, '-o', partial, ...files], { stdio: 'pipe' });
  renameSync(partial, out);
  return out;
}

const LIBRARY_FLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC'];

/** One build of the hbDNN half: a generation, the version it reports, its optional symbols. */
export interface DnnVariant {
  readonly generation: 'A' | 'B' | 'C';
  readonly version: string;
  readonly resize: boolean;
  readonly errorDesc: boolean;
}

/**
 * The releases whose layouts hbsys knows (the symbols each exports, as the vendor's headers
 * have them), and two versions between 1.9 and 1.18 whose generation hbsys must probe.
 */
export const DNN_VARIANTS = {
  'A-1.6.1': { generation: 'A', version: '1.6.1_(3.12.1 HBRT)', resize: true, errorDesc: false },
  'B-1.9.7': { generation: 'B', version: '1.9.7_(3.14.5 HBRT)', resize: true, errorDesc: false },
  'C-1.18.6': { generation: 'C', version: '1.18.6_(3.15.25 HBRT)', resize: true, errorDesc: false },
  'C-1.24.5': { generation: 'C', version: '1.24.5_(3.15.55 HBRT)', resize: false, errorDesc: true },
  'B-1.12.3': { generation: 'B', version: '1.12.3_(3.15.0 HBRT)', resize: true, errorDesc: false },
  'C-1.15.2': { generation: 'C', version: '1.15.2_(3.15.10 HBRT)', resize: false, errorDesc: true },
} as const satisfies Record<string, DnnVariant>;

export type DnnVariantName = keyof typeof DNN_VARIANTS;

/** The default stand-in: X5's libdnn 1.24.5 (generation C, no hbDNNResize). */
export const DEFAULT_VARIANT: DnnVariantName = 'C-1.24.5';

/** The stand-in libdnn.so of `variant` (both halves), built now if need be. */
export function standinVariantPath(variant: DnnVariantName): string {
  const v: DnnVariant = DNN_VARIANTS[variant];
  return build(['libdnn-standin.c', 'hb_dnn_standin.c'], 'libdnn.so', [
    ...LIBRARY_FLAGS,
    '-pthread',
    `-DHB_DNN_GEN='${v.generation}'`,
    `-DHB_DNN_VERSION="${v.version}"`,
    `-DHB_DNN_HAS_RESIZE=${v.resize ? 1 : 0}`,
    `-DHB_DNN_HAS_ERROR_DESC=${v.errorDesc ? 1 : 0}`,
  ]);
}

/** The path of the default stand-in libdnn.so: `HBSYS_TEST_LIBDNN`, or built now. */
export function standinPath(): string {
  const prebuilt = process.env.HBSYS_TEST_LIBDNN;
  if (prebuilt) return prebuilt;
  return standinVariantPath(DEFAULT_VARIANT);
}

/** A libdnn.so with the hbSys functions only (no model API), for the missing-symbol errors. */
export function hbSysOnlyPath(): string {
  return build(['libdnn-standin.c'], 'libdnn.so', LIBRARY_FLAGS);
}

/** A shared library that is not libdnn (it lacks the eight functions), for load errors. */
export function notLibdnnPath(): string {
  return build(['layout.c'], 'not-libdnn.so', ['-std=c11', '-shared', '-fPIC']);
}

/** The layout of hbSysMem as C sees it: the layout probe, compiled and run. */
export interface CLayout {
  sizeof: number;
  alignof: number;
  phyAddr: number;
  virAddr: number;
  memSize: number;
  pointerSize: number;
}

/** Runs a compiled probe (through `HBSYS_TEST_EXEC` where set) and parses what it prints. */
function runProbe(probe: string): unknown {
  const wrapper = (process.env.HBSYS_TEST_EXEC ?? '').split(' ').filter((w) => w !== '');
  const [cmd, ...args] = [...wrapper, probe];
  return JSON.parse(execFileSync(cmd!, args, { encoding: 'utf8' }));
}

export function cLayout(): CLayout {
  return runProbe(build(['layout.c'], 'layout', ['-std=c11', '-Wall'])) as CLayout;
}

/** Sizes, alignments and offsets of the hbDNN structs of `generation`, as C lays them out. */
export interface CDnnLayout {
  properties: Record<string, number>;
  tensor: Record<string, number>;
  inferCtrl: Record<string, number>;
  roi: { size: number };
  resizeCtrl: { size: number; resizeType: number };
}

export function cDnnLayout(generation: 'A' | 'B' | 'C'): CDnnLayout {
  const probe = build(['dnn_layout.c'], 'dnn-layout', [
    '-std=c11',
    '-Wall',
    `-DHB_DNN_GEN='${generation}'`,
  ]);
  return runProbe(probe) as CDnnLayout;
}

/** The stand-in's test-only exports. */
export interface StandinExtras {
  vioAlloc(size: number): bigint;
  vioFree(phyAddr: bigint): void;
  checksum(phyAddr: bigint, size: number): number;
  liveAllocations(): number;
  liveRegistrations(): number;
  flushCount(flag: number): bigint;
  /** How many of the eight functions C has seen called. */
  callCount(): bigint;
  /** The next call of the eight returns `code` and does nothing. */
  failNext(code: number): void;
  /** The struct of the last successful hbSysFlushMem, as C received it. */
  lastFlush(): { phyAddr: bigint; virAddr: bigint; memSize: number };
}

/** The extras of the stand-in at `path` (the same library instance the backend loads). */
export function standinExtras(path: string = standinPath()): StandinExtras {
  const koffi = createRequire(import.meta.url)('koffi');
  const lib = koffi.load(path);
  const vioAlloc = lib.func('int32_t standinVioAlloc(uint32_t size, _Out_ uint64_t *phyAddr)');
  const vioFree = lib.func('int32_t standinVioFree(uint64_t phyAddr)');
  const checksum = lib.func('uint32_t standinChecksum(uint64_t phyAddr, uint32_t size)');
  const liveAllocations = lib.func('int32_t standinLiveAllocations(void)');
  const liveRegistrations = lib.func('int32_t standinLiveRegistrations(void)');
  const flushCount = lib.func('uint64_t standinFlushCount(int32_t flag)');
  const callCount = lib.func('uint64_t standinCallCount(void)');
  const failNext = lib.func('void standinFailNext(int32_t code)');
  const lastFlush = lib.func('uint64_t standinLastFlush(int32_t field)');
  return {
    vioAlloc(size) {
      const out = [0n];
      const code = vioAlloc(size, out);
      if (code !== 0) throw new Error(`standinVioAlloc(${size}) returned ${code}`);
      return BigInt(out[0]!);
    },
    vioFree(phyAddr) {
      const code = vioFree(phyAddr);
      if (code !== 0) throw new Error(`standinVioFree(0x${phyAddr.toString(16)}) returned ${code}`);
    },
    checksum: (phyAddr, size) => checksum(phyAddr, size),
    liveAllocations: () => liveAllocations(),
    liveRegistrations: () => liveRegistrations(),
    flushCount: (flag) => BigInt(flushCount(flag)),
    callCount: () => BigInt(callCount()),
    failNext: (code) => failNext(code),
    lastFlush: () => ({
      phyAddr: BigInt(lastFlush(0)),
      virAddr: BigInt(lastFlush(1)),
      memSize: Number(lastFlush(2)),
    }),
  };
}

/** FNV-1a, as standinChecksum computes it in C. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/** The hbDNN half's test-only exports. */
export interface StandinDnnExtras {
  livePacks(): number;
  /** Tasks C holds: not released, or released while still running. */
  liveTasks(): number;
  /** hbDNN calls C has seen (not counting hbDNNGetVersion and hbDNNGetErrorDesc). */
  callCount(): bigint;
  /** 0 bpuCoreId, 1 dspCoreId, 2 priority, 3 more, 4 customId; 5-7 of the last resize. */
  lastCtrl(field: number): bigint;
}

export function standinDnnExtras(path: string = standinPath()): StandinDnnExtras {
  const koffi = createRequire(import.meta.url)('koffi');
  const lib = koffi.load(path);
  const livePacks = lib.func('int32_t standinDnnLivePacks(void)');
  const liveTasks = lib.func('int32_t standinDnnLiveTasks(void)');
  const callCount = lib.func('uint64_t standinDnnCallCount(void)');
  const lastCtrl = lib.func('int64_t standinDnnLastCtrl(int32_t field)');
  return {
    livePacks: () => livePacks(),
    liveTasks: () => liveTasks(),
    callCount: () => BigInt(callCount()),
    lastCtrl: (field) => BigInt(lastCtrl(field)),
  };
}
