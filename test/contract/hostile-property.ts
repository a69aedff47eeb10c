/**
 * The hostile-object property: fast-check throws careless and malicious arguments at the
 * eight functions (and, in hostile-buffer-property.ts, at the buffer API), and checks, for
 * every case, that
 * - nothing throws (the C-style functions), or only an HbSysError is thrown (the buffers);
 * - the code is the documented one, computed from the values the caller's object gave on
 *   its *first* read of each field (a getter that changes later must not matter);
 * - each field was read at most once;
 * - a failing call changed nothing: the machine's state (emulator statistics, or the live
 *   counts and flush counters in C), the memory's contents, the caller's object;
 * - a succeeding call did what the first reads said (the size registered, the bytes copied).
 *
 * Hostile means: getters that change or throw, Proxies (whose traps change, throw or refuse),
 * frozen objects and frozen prototypes, setters that throw, and host buffers that lie about
 * their length, are Proxies, or shrink or detach while the call runs (from a getter of the
 * mem). A process that crashes fails the test too: the native backend runs it in a child.
 */

import assert from 'node:assert/strict';
import { types } from 'node:util';
import fc from 'fast-check';
import {
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { type HbSysFlushFlag, RAW_VIR_ADDR } from '../../src/mem.js';
import type { ExternalBuffer } from './api-contract.js';
import { detach, resizable } from './hostile-contract.js';

/** What the property needs of a backend. */
export interface HostileWorld {
  /** Externally owned memory to register (a camera buffer). */
  externalBuffer(size: number): ExternalBuffer;
  /** Live allocations and registrations, as the machine (or C) counts them. */
  liveCounts(): { allocations: number; registrations: number };
  /** Everything a failing call must leave as it was, comparable with deepEqual. */
  state(): unknown;
  /** Whether host bytes that view freed BPU memory are refused (native: yes). */
  readonly refusesStaleViews: boolean;
  /**
   * Whether `virAddr` is installed with defineProperty rather than assigned (the emulator's
   * sanitizer makes it a checked accessor): then a frozen prototype, a throwing setter or a
   * Proxy that refuses `set` does not stop register from filling it.
   */
  readonly definesVirAddr?: boolean;
  /**
   * Whether another view of a mapping's bytes (`virAddr.subarray(0)`) is accepted by flush,
   * read and write, as a sub-range mem is on the board (both backends: yes). Free and
   * unregister take only the view handed out.
   */
  readonly acceptsSubRanges?: boolean;
  /** Called with a description of each case before it runs (the native child logs it). */
  onCase?(description: string): void;
  /** Called with each function's name and the code it returned (for the tally). */
  onResult?(fn: string, code: number): void;
}

/** Counts of codes by function, as a line for the test log. */
export function tally(): { onResult(fn: string, code: number): void; text(): string } {
  const counts = new Map<string, number>();
  const names = new Map([
    [S, 'ok'],
    [I, 'invalid'],
    [RMF, 'register-failed'],
  ]);
  return {
    onResult(fn, code) {
      const key = `${fn}:${names.get(code) ?? code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
    text: () =>
      [...counts.entries()]
        .sort()
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
  };
}

/**
 * Cases per run of each property, per backend. Under qemu (the arm64 run sets
 * HBSYS_TEST_NODE) every call is many times slower, so it runs a fifth as many.
 */
export const HOSTILE_CASES = process.env.HBSYS_TEST_NODE
  ? { functions: 1000, buffer: 400 }
  : { functions: 5000, buffer: 2000 };

const I = HB_SYS_INVALID_ARGUMENT;
const S = HB_SYS_SUCCESS;
const RMF = HB_SYS_REGISTER_MEM_FAILED;

type Field = 'phyAddr' | 'virAddr' | 'memSize';
const FIELDS: readonly Field[] = ['phyAddr', 'virAddr', 'memSize'];

const FNS = [
  'alloc',
  'allocCached',
  'flush',
  'free',
  'write',
  'read',
  'register',
  'unregister',
] as const;
type Fn = (typeof FNS)[number];

const TARGETS = ['uncached', 'cached', 'registration', 'freed', 'foreign', 'empty'] as const;
type TargetKind = (typeof TARGETS)[number];

/** How a field answers reads: a value, a getter that changes after the first read, a throw. */
const HOSTILITY = ['data', 'changing', 'throwing'] as const;
type Hostility = (typeof HOSTILITY)[number];

/**
 * The object the fields live in. `writes` says whether hbsys can write the fields: 'yes';
 * 'refused' (isFillable sees it: frozen, accessors without setters, a Proxy whose
 * descriptor trap throws); 'fails' (only the write itself fails: a frozen prototype, a
 * setter that throws, a Proxy whose set trap refuses).
 */
const CONTAINERS = {
  plain: 'yes',
  proxy: 'yes',
  frozenProto: 'fails',
  frozen: 'refused',
  getterOnly: 'refused',
  throwingSetter: 'fails',
  proxyRefusesSet: 'fails',
  proxyThrowsDescriptor: 'refused',
} as const;
type Container = keyof typeof CONTAINERS;

const HOSTS = [
  'plain',
  'dataView',
  'arrayBuffer',
  'shrinkByGetter',
  'detachByGetter',
  'proxy',
  'fake',
  'liar',
  'outOfBounds',
  'staleMapping',
] as const;
type HostKind = (typeof HOSTS)[number];

const REGISTER_PLANS = ['free', 'inAllocation', 'overlap', 'beyond', 'unknown'] as const;
type RegisterPlan = (typeof REGISTER_PLANS)[number];

/** Values a careless caller puts in the fields instead of the real ones. */
const GARBAGE: Record<Field, (t: Target) => unknown[]> = {
  phyAddr: (t) => [0n, t.phyAddr + 4096n, Number(t.phyAddr), 'x', undefined, -1n, 2n ** 64n],
  virAddr: (t) => [
    null,
    undefined,
    new Uint8Array(t.size),
    aliasOf(t.view),
    t.view === null ? null : new Proxy(t.view, {}),
    'x',
  ],
  memSize: (t) => [0, -1, 1.5, t.size + 1, 2 ** 32 + 64, '64', 64n, Number.NaN, 1, t.size],
};

/** Another view of the same bytes (null once detached: Node 22 detaches freed native views). */
function aliasOf(view: Uint8Array | null): Uint8Array | null {
  return view === null || view.byteLength === 0 ? null : view.subarray(0);
}

/** Whether `v` is another plain view that starts where `view` starts. */
function sameStart(v: unknown, view: Uint8Array | null): boolean {
  return (
    view !== null &&
    v !== view &&
    v instanceof Uint8Array &&
    !types.isProxy(v) &&
    v.buffer === view.buffer &&
    v.byteOffset === view.byteOffset
  );
}

/** What a later read of a changing getter returns: always wrong. */
const POISON: Record<Field, (t: Target) => unknown> = {
  phyAddr: () => 'poison',
  virAddr: () => new Uint8Array(1 << 16),
  memSize: () => 2 ** 32 + 64,
};

/** The memory a case calls a function on, with a plain handle to check and clean up with. */
interface Target {
  kind: TargetKind;
  phyAddr: bigint;
  view: Uint8Array | null;
  size: number;
  /** Still live (a freed or forged handle is not). */
  live: boolean;
  isRegistration: boolean;
  /** Plain hbSysMem of the live memory, for cleanup. */
  handle: hbSysMem | undefined;
}

interface Case {
  fn: Fn;
  target: TargetKind;
  container: Container;
  fields: Record<Field, { garbage: number | null; hostility: Hostility }>;
  host: HostKind;
  size: number | 'valid' | 'max' | 'over';
  flag: unknown;
  allocSize: unknown;
  register: { plan: RegisterPlan; size: 'valid' | 'tooBig' | number | string };
}

/** Mostly `common`, sometimes any of `all`: so that calls that should succeed are frequent. */
function mostly<T>(common: readonly T[], all: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...common) },
    { weight: 1, arbitrary: fc.constantFrom(...all) },
  );
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  fn: fc.constantFrom(...FNS),
  target: mostly<TargetKind>(['uncached', 'cached', 'registration'], TARGETS),
  container: mostly<Container>(['plain', 'proxy'], Object.keys(CONTAINERS) as Container[]),
  fields: fc.record({
    phyAddr: fieldArb(),
    virAddr: fieldArb(),
    memSize: fieldArb(),
  }),
  host: mostly<HostKind>(['plain', 'dataView', 'arrayBuffer', 'shrinkByGetter'], HOSTS),
  size: fc.oneof(
    fc.constantFrom<Case['size']>('valid', 'max', 'over', 0, -1, 1.5, Number.NaN),
    fc.integer({ min: 1, max: 4096 }),
  ),
  flag: fc.constantFrom<unknown>(1, 2, 2, 1, 3, 0, '2', null),
  allocSize: mostly<unknown>([64, 4096, 100_000], [0, -1, 1.5, 2 ** 32, '64', 64n]),
  register: fc.record({
    plan: fc.constantFrom(...REGISTER_PLANS),
    size: fc.constantFrom<Case['register']['size']>('valid', 'valid', 'tooBig', 0, 1.5, '64'),
  }),
});

function fieldArb() {
  return fc.record({
    // Mostly the real value: the hostility, not the garbage, is what is under test.
    garbage: fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.nat(9) },
    ),
    hostility: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom<Hostility>('data', 'changing') },
      { weight: 1, arbitrary: fc.constant<Hostility>('throwing') },
    ),
  });
}

export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

export const isSize = (n: unknown): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffff_ffff;

/** Runs the property over the eight functions; returns how many cases ran. */
export function hostileFunctionsProperty(world: HostileWorld, numRuns: number, seed?: number) {
  const ext = world.externalBuffer(16384);
  // A registration that lives through every case: registering over it must fail.
  const standing: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 };
  assert.equal(hbSysRegisterMem(standing), S, hbSysGetLastError()?.message);
  let cases = 0;
  try {
    fc.assert(
      fc.property(caseArb, (c) => {
        cases++;
        runCase(world, c, ext);
      }),
      { numRuns, seed },
    );
  } finally {
    // After a failure a case may have left a registration in ext: the failure is what matters.
    hbSysUnregisterMem(standing);
    try {
      ext.free();
    } catch {}
  }
  return cases;
}

function makeTarget(kind: TargetKind, ext: ExternalBuffer): Target {
  const alloc = (size: number, cached: boolean) => {
    const mem = {} as hbSysMem;
    assert.equal((cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size), S);
    mem.virAddr!.set(pattern(size, 1));
    return mem;
  };
  switch (kind) {
    case 'uncached':
    case 'cached': {
      const size = kind === 'cached' ? 8192 : 4096;
      const mem = alloc(size, kind === 'cached');
      return { kind, ...fromMem(mem), live: true, isRegistration: false, handle: mem };
    }
    case 'registration': {
      const mem: hbSysMem = { phyAddr: ext.phyAddr + 8192n, virAddr: null, memSize: 4096 };
      assert.equal(hbSysRegisterMem(mem), S, hbSysGetLastError()?.message);
      mem.virAddr!.set(pattern(4096, 2));
      return { kind, ...fromMem(mem), live: true, isRegistration: true, handle: mem };
    }
    case 'freed': {
      const mem = alloc(4096, false);
      const copy = { ...mem };
      assert.equal(hbSysFreeMem(mem), S);
      return {
        kind,
        phyAddr: copy.phyAddr,
        view: copy.virAddr,
        size: 4096,
        live: false,
        isRegistration: false,
        handle: undefined,
      };
    }
    case 'foreign':
      return {
        kind,
        phyAddr: 0x0400_0000n,
        view: new Uint8Array(4096),
        size: 4096,
        live: false,
        isRegistration: false,
        handle: undefined,
      };
    case 'empty':
      return {
        kind,
        phyAddr: 0n,
        view: null,
        size: 4096,
        live: false,
        isRegistration: false,
        handle: undefined,
      };
  }
}

function fromMem(mem: hbSysMem) {
  return { phyAddr: mem.phyAddr, view: mem.virAddr, size: mem.memSize };
}

/** The caller's object, built from a case: where its fields live and how they answer. */
interface Built {
  mem: hbSysMem;
  /** How many times each field was read. */
  reads: Record<Field, number>;
  /** A field as the object holds it now, read past getters and traps. */
  readBack(field: Field): unknown;
  /** The object's own data, past getters and traps, for "nothing changed". */
  data(): unknown;
}

function build(
  c: Case,
  first: Record<Field, unknown>,
  target: Target,
  onRead: Partial<Record<Field, () => void>>,
): Built {
  const reads = { phyAddr: 0, virAddr: 0, memSize: 0 };
  const backing: Record<string, unknown> = { ...first };
  /** What a read of `field` gives: the first value, then poison, or a throw; counted. */
  const answer = (field: Field): unknown => {
    onRead[field]?.();
    const n = reads[field]++;
    const h = c.fields[field].hostility;
    if (h === 'throwing') throw new Error(`the ${field} getter throws`);
    if (h === 'changing' && n > 0) return POISON[field](target);
    return backing[field];
  };
  // A field is an accessor when reading it must run something, or the container says so.
  const accessor = (f: Field) =>
    c.container === 'getterOnly' || c.fields[f].hostility !== 'data' || onRead[f] !== undefined;
  const define = (obj: object, setter: 'stores' | 'throws' | 'none') => {
    for (const f of FIELDS) {
      if (!accessor(f) && setter !== 'throws') {
        Object.defineProperty(obj, f, {
          value: backing[f],
          writable: true,
          enumerable: true,
          configurable: true,
        });
        continue;
      }
      Object.defineProperty(obj, f, {
        enumerable: true,
        configurable: true,
        get: () => answer(f),
        set:
          setter === 'none'
            ? undefined
            : (v: unknown) => {
                if (setter === 'throws') throw new Error(`the ${f} setter throws`);
                backing[f] = v;
                reads[f] = 0;
              },
      });
    }
    return obj;
  };
  const proxy = (traps: ProxyHandler<Record<string, unknown>>) => {
    const t: Record<string, unknown> = { ...first };
    const p = new Proxy(t, {
      get(tt, k, r) {
        if (typeof k === 'string' && (FIELDS as readonly string[]).includes(k)) {
          backing[k] = tt[k];
          return answer(k as Field);
        }
        return Reflect.get(tt, k, r);
      },
      ...traps,
    });
    return { mem: p as unknown as hbSysMem, t };
  };
  let mem: hbSysMem;
  let own: () => Record<string, unknown>;
  switch (c.container) {
    case 'plain':
    case 'getterOnly':
    case 'throwingSetter':
    case 'frozen': {
      const obj = define(
        {},
        c.container === 'plain' ? 'stores' : c.container === 'throwingSetter' ? 'throws' : 'none',
      );
      if (c.container === 'frozen') Object.freeze(obj);
      mem = obj as hbSysMem;
      own = () => ownData(obj, backing);
      break;
    }
    case 'frozenProto': {
      const proto = Object.freeze(define({}, 'none'));
      mem = Object.create(proto) as hbSysMem;
      own = () => ({ own: Reflect.ownKeys(mem).length, ...ownData(proto, backing) });
      break;
    }
    case 'proxy': {
      const { mem: p, t } = proxy({});
      mem = p;
      own = () => ({ ...t });
      break;
    }
    case 'proxyRefusesSet': {
      const { mem: p, t } = proxy({ set: () => false });
      mem = p;
      own = () => ({ ...t });
      break;
    }
    case 'proxyThrowsDescriptor': {
      const { mem: p, t } = proxy({
        getOwnPropertyDescriptor() {
          throw new Error('the descriptor trap throws');
        },
      });
      mem = p;
      own = () => ({ ...t });
      break;
    }
  }
  const readBack = (f: Field): unknown => {
    // The sanitizer's accessor keeps the mapping in its own slot.
    const slot = Object.getOwnPropertyDescriptor(mem, RAW_VIR_ADDR);
    if (f === 'virAddr' && slot !== undefined && 'value' in slot) return slot.value;
    const holder =
      c.container === 'proxy' || c.container.startsWith('proxy') ? own() : { ...ownDataOf(mem) };
    return f in holder ? holder[f] : backing[f];
  };
  return { mem, reads, readBack, data: () => own() };
}

/** Own fields of `obj`: data values as they are, accessors as the value they store. */
function ownData(obj: object, backing: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const d = Object.getOwnPropertyDescriptor(obj, f);
    if (d === undefined) continue;
    out[f] = 'value' in d ? d.value : backing[f];
  }
  return out;
}

function ownDataOf(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const d = Object.getOwnPropertyDescriptor(obj, f);
    if (d !== undefined && 'value' in d) out[f] = d.value;
  }
  return out;
}

interface Host {
  bytes: unknown;
  /** Its length once the mem's getters have run; undefined when it cannot be used then. */
  length: number | undefined;
  /** A view of its real bytes, to check what was copied. */
  real: () => Uint8Array | undefined;
  onRead: Partial<Record<Field, () => void>>;
  cleanup(): void;
}

function makeHost(kind: HostKind, world: HostileWorld): Host {
  const n = 4096;
  const none = { onRead: {}, cleanup() {} };
  switch (kind) {
    case 'plain': {
      const u = pattern(n, 5);
      return { ...none, bytes: u, length: n, real: () => u };
    }
    case 'dataView': {
      const ab = new ArrayBuffer(n + 32);
      const dv = new DataView(ab, 16, n);
      new Uint8Array(ab, 16, n).set(pattern(n, 6));
      return { ...none, bytes: dv, length: n, real: () => new Uint8Array(ab, 16, n) };
    }
    case 'arrayBuffer': {
      const ab = new ArrayBuffer(n);
      new Uint8Array(ab).set(pattern(n, 7));
      return { ...none, bytes: ab, length: n, real: () => new Uint8Array(ab) };
    }
    case 'shrinkByGetter': {
      const ab = resizable(n);
      const u = new Uint8Array(ab);
      u.set(pattern(n, 8));
      return {
        bytes: u,
        length: 10,
        real: () => new Uint8Array(ab),
        onRead: { memSize: () => ab.resize(10) },
        cleanup() {},
      };
    }
    case 'detachByGetter': {
      const ab = new ArrayBuffer(n);
      return {
        bytes: new Uint8Array(ab),
        length: undefined,
        real: () => undefined,
        onRead: { virAddr: () => ab.byteLength > 0 && detach(ab) },
        cleanup() {},
      };
    }
    case 'proxy':
      return {
        ...none,
        bytes: new Proxy(new Uint8Array(n), {}),
        length: undefined,
        real: () => undefined,
      };
    case 'fake':
      return {
        ...none,
        bytes: Object.create(Uint8Array.prototype),
        length: undefined,
        real: () => undefined,
      };
    case 'liar': {
      const u = pattern(8, 9);
      Object.defineProperty(u, 'byteLength', { value: n });
      Object.defineProperty(u, 'length', { value: n });
      return { ...none, bytes: u, length: 8, real: () => new Uint8Array(u.buffer) };
    }
    case 'outOfBounds': {
      const ab = resizable(n);
      const u = new Uint8Array(ab, 0, n);
      ab.resize(8);
      return { ...none, bytes: u, length: undefined, real: () => undefined };
    }
    case 'staleMapping': {
      // A view of BPU memory that the mem's memSize getter frees during the call.
      const other = {} as hbSysMem;
      assert.equal(hbSysAllocMem(other, n), S);
      other.virAddr!.set(pattern(n, 10));
      const kept = other.virAddr!;
      let freed = false;
      return {
        bytes: kept,
        length: world.refusesStaleViews ? undefined : n,
        // Never read once freed: on Node 20 the view still points at unmapped memory.
        real: () => (freed && world.refusesStaleViews ? undefined : kept),
        onRead: {
          memSize: () => {
            if (!freed) freed = hbSysFreeMem(other) === S;
          },
        },
        cleanup() {
          if (!freed) hbSysFreeMem(other);
        },
      };
    }
  }
}

function runCase(world: HostileWorld, c: Case, ext: ExternalBuffer): void {
  const counts0 = world.liveCounts();
  const registering = c.fn === 'register';
  const target = makeTarget(registering ? 'empty' : c.target, ext);
  const inAllocation =
    registering && c.register.plan === 'inAllocation' ? makeTarget('uncached', ext) : undefined;
  const usesHost = c.fn === 'write' || c.fn === 'read';
  const host = usesHost ? makeHost(c.host, world) : undefined;

  // The first read of each field, as the oracle sees it.
  const first: Record<Field, unknown> = {
    phyAddr: target.phyAddr,
    virAddr: target.view,
    memSize: target.size,
  };
  for (const f of FIELDS) {
    const g = c.fields[f].garbage;
    if (g !== null) {
      const options = GARBAGE[f](target);
      first[f] = options[g % options.length];
    }
  }
  let registerSizeValid = false;
  let registerFits = false;
  if (registering) {
    const base = inAllocation?.phyAddr ?? ext.phyAddr;
    const { plan, size } = c.register;
    first.phyAddr =
      plan === 'free'
        ? ext.phyAddr + 12288n
        : plan === 'inAllocation'
          ? base + 1024n
          : plan === 'overlap'
            ? ext.phyAddr + 2048n
            : plan === 'beyond'
              ? ext.phyAddr + 16384n - 1024n
              : 0x7fff_0000_0000n;
    first.memSize = size === 'valid' ? 2048 : size === 'tooBig' ? 1 << 20 : size;
    first.virAddr = null;
    registerSizeValid = isSize(first.memSize);
    registerFits =
      registerSizeValid && (plan === 'free' || plan === 'inAllocation') && size === 'valid';
  }
  const built = build(c, first, target, host?.onRead ?? {});
  const dataBefore = built.data();

  // The size argument of write and read.
  const hostLength = host?.length;
  const memSize = first.memSize;
  const size =
    c.size === 'valid'
      ? Math.min(64, hostLength ?? 64)
      : c.size === 'max'
        ? (hostLength ?? 4096)
        : c.size === 'over'
          ? (hostLength ?? 4096) + 1
          : c.size;

  // The oracle, in the order the functions check.
  const writes = CONTAINERS[c.container];
  const readThrows = FIELDS.some((f) => c.fields[f].hostility === 'throwing');
  const alias =
    world.acceptsSubRanges === true &&
    c.fn !== 'free' &&
    c.fn !== 'unregister' &&
    sameStart(first.virAddr, target.view);
  const live =
    target.live && (first.virAddr === target.view || alias) && first.phyAddr === target.phyAddr;
  const memSizeOk = isSize(memSize) && memSize <= target.size;
  let expected: number;
  switch (c.fn) {
    case 'alloc':
    case 'allocCached':
      expected = writes === 'refused' || !isSize(c.allocSize) || writes === 'fails' ? I : S;
      break;
    case 'flush':
      expected = !readThrows && live && memSizeOk && (c.flag === 1 || c.flag === 2) ? S : I;
      break;
    case 'free':
      expected = writes === 'yes' && !readThrows && live && !target.isRegistration ? S : I;
      break;
    case 'unregister':
      expected = writes === 'yes' && !readThrows && live && target.isRegistration ? S : I;
      break;
    case 'write':
    case 'read':
      expected =
        !readThrows &&
        live &&
        memSizeOk &&
        hostLength !== undefined &&
        isSize(size) &&
        size <= (memSize as number) &&
        size <= hostLength
          ? S
          : I;
      break;
    case 'register':
      expected =
        writes === 'refused' ||
        readThrows ||
        typeof first.phyAddr !== 'bigint' ||
        !registerSizeValid
          ? I
          : !registerFits
            ? RMF
            : writes === 'fails' && !world.definesVirAddr
              ? I
              : S;
      break;
  }

  const description = `${c.fn} ${show(c)}`;
  world.onCase?.(description);
  const contentBefore = target.live ? target.view!.slice() : undefined;
  const hostBefore = host?.real()?.slice();
  const stateBefore = world.state();
  const countsBefore = world.liveCounts();

  let code: number | undefined;
  try {
    code = call(c, built.mem, host?.bytes, size);
  } catch (error) {
    assert.fail(`${description} threw ${String(error)}`);
  }
  const why = `${description}: ${hbSysGetLastError()?.message}`;
  world.onResult?.(c.fn, code!);
  assert.equal(code, expected, why);
  for (const f of FIELDS)
    assert.ok(built.reads[f] <= 1, `${f} read ${built.reads[f]} times: ${why}`);

  // The stale-mapping host frees an allocation of its own from a getter: account for it.
  const freedByHost = c.host === 'staleMapping' && usesHost && built.reads.memSize > 0 ? 1 : 0;
  const counts = world.liveCounts();
  if (code !== S) {
    if (freedByHost === 0) assert.deepEqual(world.state(), stateBefore, `state changed: ${why}`);
    assert.deepEqual(
      counts,
      { ...countsBefore, allocations: countsBefore.allocations - freedByHost },
      `live counts changed: ${why}`,
    );
    if (contentBefore !== undefined) {
      assert.deepEqual(
        new Uint8Array(target.view!),
        new Uint8Array(contentBefore),
        `memory changed: ${why}`,
      );
    }
    const hostAfter = host?.real();
    if (hostBefore !== undefined && hostAfter?.byteLength === hostBefore.byteLength) {
      assert.deepEqual(
        new Uint8Array(hostAfter),
        new Uint8Array(hostBefore),
        `host bytes changed: ${why}`,
      );
    }
    if (c.container !== 'throwingSetter') {
      assert.deepEqual(built.data(), dataBefore, `the caller's object changed: ${why}`);
    }
  } else {
    checkSuccess(c, built, target, counts, countsBefore, freedByHost, first, host, size, why);
  }

  // Clean up: everything this case made goes, and the machine is as it was.
  host?.cleanup();
  if (target.handle !== undefined && target.live && !(code === S && c.fn === 'free')) {
    if (!(code === S && c.fn === 'unregister')) {
      const end = target.isRegistration ? hbSysUnregisterMem : hbSysFreeMem;
      assert.equal(end(target.handle), S, `cleanup: ${hbSysGetLastError()?.message}`);
    }
  }
  if (inAllocation?.handle !== undefined) assert.equal(hbSysFreeMem(inAllocation.handle), S);
  assert.deepEqual(world.liveCounts(), counts0, `something leaked: ${why}`);
}

function call(c: Case, mem: hbSysMem, bytes: unknown, size: unknown): number {
  switch (c.fn) {
    case 'alloc':
      return hbSysAllocMem(mem, c.allocSize as number);
    case 'allocCached':
      return hbSysAllocCachedMem(mem, c.allocSize as number);
    case 'flush':
      // Hostile flags on purpose: the type says what a program should pass, not what it may.
      return hbSysFlushMem(mem, c.flag as HbSysFlushFlag);
    case 'free':
      return hbSysFreeMem(mem);
    case 'write':
      return hbSysWriteMem(mem, bytes as Uint8Array, size as number);
    case 'read':
      return hbSysReadMem(bytes as Uint8Array, mem, size as number);
    case 'register':
      return hbSysRegisterMem(mem);
    case 'unregister':
      return hbSysUnregisterMem(mem);
  }
}

function checkSuccess(
  c: Case,
  built: Built,
  target: Target,
  counts: { allocations: number; registrations: number },
  before: { allocations: number; registrations: number },
  freedByHost: number,
  first: Record<Field, unknown>,
  host: Host | undefined,
  size: unknown,
  why: string,
): void {
  switch (c.fn) {
    case 'alloc':
    case 'allocCached': {
      assert.equal(counts.allocations, before.allocations + 1, why);
      const mem = {
        phyAddr: built.readBack('phyAddr'),
        virAddr: built.readBack('virAddr'),
        memSize: built.readBack('memSize'),
      } as hbSysMem;
      assert.equal(mem.memSize, c.allocSize, why);
      assert.equal(mem.virAddr?.byteLength, c.allocSize, why);
      assert.equal(hbSysFreeMem(mem), S, `freeing what alloc filled: ${why}`);
      return;
    }
    case 'register': {
      assert.equal(counts.registrations, before.registrations + 1, why);
      const view = built.readBack('virAddr') as Uint8Array;
      assert.equal(view.byteLength, first.memSize, `the size of the first read: ${why}`);
      const mem = { phyAddr: first.phyAddr, virAddr: view, memSize: first.memSize } as hbSysMem;
      assert.equal(hbSysUnregisterMem(mem), S, `ending what register made: ${why}`);
      return;
    }
    case 'free':
      assert.equal(counts.allocations, before.allocations - 1, why);
      assert.equal(built.readBack('virAddr'), null, why);
      target.live = false;
      return;
    case 'unregister':
      assert.equal(counts.registrations, before.registrations - 1, why);
      target.live = false;
      return;
    case 'flush':
      assert.deepEqual(counts, before, why);
      return;
    case 'write':
    case 'read': {
      assert.deepEqual(counts, { ...before, allocations: before.allocations - freedByHost }, why);
      const n = size as number;
      const real = host!.real();
      const view = target.view!;
      if (real === undefined) return;
      if (c.fn === 'write')
        assert.deepEqual(
          new Uint8Array(view.subarray(0, n)),
          new Uint8Array(real.subarray(0, n)),
          why,
        );
      else
        assert.deepEqual(
          new Uint8Array(real.subarray(0, n)),
          new Uint8Array(view.subarray(0, n)),
          why,
        );
      return;
    }
  }
}

/** A case as text (bigints included). */
export function show(x: unknown): string {
  return JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}
