/**
 * The C stand-in for libdnn (test/fixtures/libdnn-standin), built for the tests, and its
 * test-only exports. The stand-in is a test double for the ABI of the eight functions: it
 * proves marshalling and lifetimes, not the vendor's behaviour.
 *
 * Building: `$CC` (default gcc) compiles it into a directory under the system temp
 * directory named by a hash of the sources and the compiler, so the test files, which run
 * in parallel processes, build it once and share it; the output is renamed into place, so
 * no process sees a half-written library. `HBSYS_TEST_LIBDNN` names a prebuilt stand-in
 * instead (the arm64 run cross-compiles it first). `HBSYS_TEST_EXEC` is a command that
 * runs the compiled layout probe (for example `qemu-aarch64-static -L /usr/aarch64-linux-gnu`).
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

/** The fixture sources, found from dist/test/native/ (compiled) or test/native/. */
const fixtures = fileURLToPath(new URL('../../../test/fixtures/libdnn-standin/', import.meta.url));

const compiler = (): string => process.env.CC || 'gcc';

/** Compiles `source` (in the fixtures) with `args` into `name`, once per content; its path. */
function build(source: string, name: string, args: readonly string[]): string {
  const cc = compiler();
  const hash = createHash('sha256');
  for (const file of [source, 'hb_sys_abi.h']) hash.update(readFileSync(join(fixtures, file)));
  hash.update(`${cc}\0${args.join('\0')}`);
  const dir = join(tmpdir(), `hbsys-standin-${hash.digest('hex').slice(0, 16)}`);
  const out = join(dir, name);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const partial = `${out}.${process.pid}.partial`;
  execFileSync(cc, [...args, '-o', partial, join(fixtures, source)], { stdio: 'pipe' });
  renameSync(partial, out);
  return out;
}

/** The path of the stand-in libdnn.so: `HBSYS_TEST_LIBDNN`, or built now. */
export function standinPath(): string {
  const prebuilt = process.env.HBSYS_TEST_LIBDNN;
  if (prebuilt) return prebuilt;
  return build('libdnn-standin.c', 'libdnn.so', [
    '-std=c11',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-shared',
    '-fPIC',
  ]);
}

/** A shared library that is not libdnn (it lacks the eight functions), for load errors. */
export function notLibdnnPath(): string {
  return build('layout.c', 'not-libdnn.so', ['-std=c11', '-shared', '-fPIC']);
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

export function cLayout(): CLayout {
  const probe = build('layout.c', 'layout', ['-std=c11', '-Wall']);
  const wrapper = (process.env.HBSYS_TEST_EXEC ?? '').split(' ').filter((w) => w !== '');
  const [cmd, ...args] = [...wrapper, probe];
  return JSON.parse(execFileSync(cmd!, args, { encoding: 'utf8' })) as CLayout;
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
  };
}

/** FNV-1a, as standinChecksum computes it in C. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}
