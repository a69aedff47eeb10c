/**
 * A model test: random sequences of the eight functions, direct CPU writes through
 * virAddr, and BPU copies and fills, run against the emulator and against a plain
 * reference model, compared after every step: status codes, what the CPU sees through
 * every live mapping, what the BPU sees in physical memory, and the statistics.
 *
 * The reference keeps per-byte arrays and walks lines one by one; the emulator uses
 * planes, chunked memcmp fast paths and a TLSF heap. A line is dirty, in both, when the CPU
 * copy differs from what the line held at its last sync.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  type HbSysFlushFlag,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';

const PAGES = 16;
/** The page size of the run: 256 B (allocations share 4 KiB chunks) or 4 KiB (they do not). */
let PAGE = 256;
/** Sizes in the ops are drawn for 256 B pages and scaled by this. */
let SCALE = 1;
const LINE = 64;
const MAX_ALLOCS = 6;

/** The reference's view of an allocation. */
interface ModelOwner {
  phyAddr: bigint;
  size: number;
  pages: number;
  cached: boolean;
  memory: Uint8Array;
  cache: Uint8Array;
  shadow: Uint8Array;
  regs: ModelReg[];
}

interface ModelReg {
  owner: ModelOwner;
  offset: number;
  size: number;
}

/** A handle the test holds: a mem, and what the model says it is. */
interface Handle {
  mem: hbSysMem;
  target: { kind: 'alloc'; owner: ModelOwner } | { kind: 'reg'; reg: ModelReg };
  live: boolean;
  /** The thread that made it (and frees or unregisters it), and its key there. */
  home: 'main' | 'worker';
  key: number;
}

/**
 * Where the calls run. Split across two threads, a step runs in the worker (a thread that
 * shares the machine) by its number; a handle is freed or unregistered by the thread that
 * made it, and reaches the other thread as a posted copy only while live: a posted copy
 * of a freed mem whose address was allocated again is the one staleness a thread cannot
 * see (README, threads).
 */
interface Calls {
  alloc(key: number, size: number, cached: boolean): Promise<{ code: number; mem: hbSysMem }>;
  register(key: number, phyAddr: bigint, memSize: number): Promise<{ code: number; mem: hbSysMem }>;
  free(h: Handle, copy: boolean): Promise<{ code: number; cleared: boolean }>;
  unregister(h: Handle): Promise<number>;
  writeMem(h: Handle, size: number, value: number): Promise<number>;
  readMem(h: Handle, size: number): Promise<{ code: number; bytes: Uint8Array }>;
  flush(h: Handle, memSize: number, flag: number): Promise<number>;
  cpuWrite(h: Handle, offset: number, end: number, value: number): Promise<void>;
  bpu(
    op: 'copy' | 'fill',
    dst: bigint,
    src: bigint,
    value: number,
    size: number,
  ): Promise<string | undefined>;
}

/** The calls as the main thread makes them. */
const local: Calls = {
  async alloc(_key, size, cached) {
    const mem = {} as hbSysMem;
    const code = (cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size);
    return { code, mem };
  },
  async register(_key, phyAddr, memSize) {
    const mem = { phyAddr, memSize } as hbSysMem;
    return { code: hbSysRegisterMem(mem), mem };
  },
  async free(h, copy) {
    const mem = copy ? { ...h.mem } : h.mem;
    const code = hbSysFreeMem(mem);
    return { code, cleared: mem.virAddr === null };
  },
  unregister: async (h) => hbSysUnregisterMem(h.mem),
  writeMem: async (h, size, value) => hbSysWriteMem(h.mem, new Uint8Array(size).fill(value), size),
  async readMem(h, size) {
    const bytes = new Uint8Array(size);
    return { code: hbSysReadMem(bytes, h.mem, size), bytes };
  },
  async flush(h, memSize, flag) {
    const saved = h.mem.memSize;
    h.mem.memSize = memSize;
    const code = hbSysFlushMem(h.mem, flag as HbSysFlushFlag); // 3 too: a bad flag
    h.mem.memSize = saved;
    return code;
  },
  async cpuWrite(h, offset, end, value) {
    h.mem.virAddr!.fill(value, offset, end);
  },
  async bpu(op, dst, src, value, size) {
    try {
      await (op === 'copy'
        ? emulator.bpu.copy(dst, src, size)
        : emulator.bpu.fill(dst, value, size));
      return undefined;
    } catch (error) {
      return String((error as Error).message);
    }
  },
};

/** The worker's side: its mems by key, and each call made there. */
const WORKER_SOURCE = `
import * as h from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
import { parentPort } from 'node:worker_threads';
const mems = new Map();
const memOf = (a) => a.key !== undefined ? mems.get(a.key) : a.mem;
parentPort.on('message', async ({ id, call, a }) => {
  let r;
  switch (call) {
    case 'alloc': { const mem = {}; const code = (a.cached ? h.hbSysAllocCachedMem : h.hbSysAllocMem)(mem, a.size); if (code === 0) mems.set(a.key, mem); r = { code, mem }; break; }
    case 'register': { const mem = { phyAddr: a.phyAddr, memSize: a.memSize }; const code = h.hbSysRegisterMem(mem); if (code === 0) mems.set(a.key, mem); r = { code, mem }; break; }
    case 'free': { const m = memOf(a); const mem = a.copy ? { ...m } : m; const code = h.hbSysFreeMem(mem); r = { code, cleared: mem.virAddr === null }; break; }
    case 'unregister': r = h.hbSysUnregisterMem(memOf(a)); break;
    case 'writeMem': r = h.hbSysWriteMem(memOf(a), new Uint8Array(a.size).fill(a.value), a.size); break;
    case 'readMem': { const bytes = new Uint8Array(a.size); r = { code: h.hbSysReadMem(bytes, memOf(a), a.size), bytes }; break; }
    case 'flush': { const mem = memOf(a); const saved = mem.memSize; mem.memSize = a.memSize; r = h.hbSysFlushMem(mem, a.flag); mem.memSize = saved; break; }
    case 'cpuWrite': memOf(a).virAddr.fill(a.value, a.offset, a.end); break;
    case 'bpu': try { await (a.op === 'copy' ? h.emulator.bpu.copy(a.dst, a.src, a.size) : h.emulator.bpu.fill(a.dst, a.value, a.size)); } catch (e) { r = String(e.message); } break;
  }
  parentPort.postMessage({ id, r });
});
`;

let worker: Worker | undefined;
/** Why the worker died, if it did: later calls fail with it. */
let failed: Error | undefined;
let calls = 0;
const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

/** The worker, started once the main thread has a machine to share. */
function helper(): Worker {
  if (worker !== undefined) return worker;
  worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`));
  worker.on('message', ({ id, r }) => {
    pending.get(id)?.resolve(r);
    pending.delete(id);
  });
  // A worker that fails fails the call waiting on it.
  worker.on('error', (error) => {
    failed = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  });
  return worker;
}

after(() => worker?.terminate());

function remote<T>(call: string, a: object): Promise<T> {
  const id = calls++;
  return new Promise<T>((resolve, reject) => {
    if (failed !== undefined) {
      reject(failed);
      return;
    }
    pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
    helper().postMessage({ id, call, a });
  });
}

/** How the worker names a handle: its key when it made it, else a copy of the mem. */
const ref = (h: Handle) => (h.home === 'worker' ? { key: h.key } : { mem: h.mem });

/** The calls as the worker makes them. */
const inWorker: Calls = {
  alloc: (key, size, cached) => remote('alloc', { key, size, cached }),
  register: (key, phyAddr, memSize) => remote('register', { key, phyAddr, memSize }),
  free: (h, copy) => remote('free', { key: h.key, copy }),
  unregister: (h) => remote('unregister', { key: h.key }),
  writeMem: (h, size, value) => remote('writeMem', { ...ref(h), size, value }),
  readMem: (h, size) => remote('readMem', { ...ref(h), size }),
  flush: (h, memSize, flag) => remote('flush', { ...ref(h), memSize, flag }),
  cpuWrite: (h, offset, end, value) => remote('cpuWrite', { ...ref(h), offset, end, value }),
  bpu: (op, dst, src, value, size) => remote('bpu', { op, dst, src, value, size }),
};

/** Whether the run splits its steps across two threads. */
let SPLIT = false;

type Op =
  | { op: 'alloc'; size: number; cached: boolean }
  | { op: 'free'; h: number; copy: boolean }
  | { op: 'cpuWrite'; h: number; offset: number; length: number; value: number }
  | { op: 'writeMem'; h: number; size: number; value: number }
  | { op: 'readMem'; h: number; size: number }
  | { op: 'flush'; h: number; flag: number; memSize: number }
  | { op: 'register'; h: number; offset: number; size: number }
  | { op: 'unregister'; h: number }
  | { op: 'bpuCopy'; dst: number; src: number; size: number }
  | { op: 'bpuFill'; dst: number; value: number; size: number };

const small = fc.integer({ min: 0, max: 1000 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('alloc' as const),
    size: fc.integer({ min: 1, max: 900 }),
    cached: fc.boolean(),
  }),
  fc.record({ op: fc.constant('free' as const), h: small, copy: fc.boolean() }),
  fc.record({
    op: fc.constant('cpuWrite' as const),
    h: small,
    offset: small,
    length: fc.integer({ min: 1, max: 200 }),
    value: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    op: fc.constant('writeMem' as const),
    h: small,
    size: small,
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ op: fc.constant('readMem' as const), h: small, size: small }),
  fc.record({
    op: fc.constant('flush' as const),
    h: small,
    flag: fc.constantFrom(1, 2, 1, 2, 3),
    memSize: fc.oneof(small, fc.constant(-1)),
  }),
  fc.record({
    op: fc.constant('register' as const),
    h: small,
    offset: small,
    size: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({ op: fc.constant('unregister' as const), h: small }),
  fc.record({
    op: fc.constant('bpuCopy' as const),
    dst: small,
    src: small,
    size: fc.integer({ min: 1, max: 600 }),
  }),
  fc.record({
    op: fc.constant('bpuFill' as const),
    dst: small,
    value: fc.integer({ min: 0, max: 255 }),
    size: fc.integer({ min: 1, max: 600 }),
  }),
);

class Model {
  owners: ModelOwner[] = [];
  handles: Handle[] = [];
  used = new Array<boolean>(PAGES).fill(false);

  canFit(pages: number): boolean {
    let run = 0;
    for (const u of this.used) {
      run = u ? 0 : run + 1;
      if (run >= pages) return true;
    }
    return false;
  }

  /** Model owner and offset of a physical address range, as the BPU resolves it. */
  resolve(addr: bigint, size: number): { owner: ModelOwner; offset: number } | undefined {
    for (const o of this.owners) {
      if (addr >= o.phyAddr && addr + BigInt(size) <= o.phyAddr + BigInt(o.size)) {
        return { owner: o, offset: Number(addr - o.phyAddr) };
      }
    }
    return undefined;
  }

  /** What the CPU sees through a live handle. */
  cpuView(h: Handle): Uint8Array {
    if (h.target.kind === 'alloc') {
      const o = h.target.owner;
      return (o.cached ? o.cache : o.memory).subarray(0, o.size);
    }
    const r = h.target.reg;
    return r.owner.cache.subarray(r.offset, r.offset + r.size);
  }

  flush(o: ModelOwner, start: number, end: number, flag: number): void {
    const s = Math.floor(start / LINE) * LINE;
    const e = Math.min(Math.ceil(end / LINE) * LINE, o.pages * PAGE);
    for (let line = s; line < e; line += LINE) {
      let dirty = false;
      for (let i = line; i < line + LINE; i++) if (o.cache[i] !== o.shadow[i]) dirty = true;
      if (dirty) {
        for (let i = line; i < line + LINE; i++) {
          o.memory[i] = o.cache[i]!;
          o.shadow[i] = o.cache[i]!;
        }
      }
      if (flag === 1) {
        for (let i = line; i < line + LINE; i++) {
          o.cache[i] = o.memory[i]!;
          o.shadow[i] = o.memory[i]!;
        }
      }
    }
  }
}

function pick<T>(list: T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[i % list.length];
}

async function run(ops: Op[]): Promise<void> {
  await emulator.reset({
    heapSize: PAGE * PAGES,
    pageSize: PAGE,
    vioSize: PAGE,
    maxAllocations: MAX_ALLOCS,
  });
  // A worker started after the reset shares this machine; one started before, the old one.
  if (SPLIT) {
    await worker?.terminate();
    worker = undefined;
  }
  const m = new Model();
  let keys = 0;
  for (const [step, o] of ops.entries()) {
    const where = `step ${step}${SPLIT ? ` (split)` : ''}: ${JSON.stringify(o)}`;
    /** The thread of this step: every other step in the worker when split. */
    const there = SPLIT && step % 2 === 1;
    const here: Calls = there ? inWorker : local;
    /** Calls on a handle: in its home for frees, else here while it is live. */
    const on = (h: Handle, crossing: boolean): Calls =>
      crossing && h.live ? here : h.home === 'worker' ? inWorker : local;
    switch (o.op) {
      case 'alloc': {
        const size = o.size * SCALE;
        const key = keys++;
        const { code, mem } = await here.alloc(key, size, o.cached);
        const pages = Math.ceil(size / PAGE);
        const live = m.owners.length;
        const expected =
          live >= MAX_ALLOCS || !m.canFit(pages) ? HB_SYS_OUT_OF_MEMORY : HB_SYS_SUCCESS;
        assert.equal(code, expected, where);
        if (code !== HB_SYS_SUCCESS) break;
        const first = Number(mem.phyAddr - 0x0400_0000n) / PAGE;
        assert.ok(Number.isInteger(first) && first >= 0 && first + pages <= PAGES, where);
        for (let p = first; p < first + pages; p++) {
          assert.equal(m.used[p], false, `${where}: overlaps a live allocation`);
          m.used[p] = true;
        }
        const bytes = pages * PAGE;
        const owner: ModelOwner = {
          phyAddr: mem.phyAddr,
          size,
          pages,
          cached: o.cached,
          memory: new Uint8Array(bytes),
          cache: new Uint8Array(bytes),
          shadow: new Uint8Array(bytes),
          regs: [],
        };
        m.owners.push(owner);
        const home = there ? 'worker' : 'main';
        m.handles.push({ mem, target: { kind: 'alloc', owner }, live: true, home, key });
        break;
      }
      case 'free': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const { code, cleared } = await on(h, false).free(h, o.copy);
        const ok = h.live && h.target.kind === 'alloc' && h.target.owner.regs.length === 0;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok && h.target.kind === 'alloc') {
          const owner = h.target.owner;
          m.owners.splice(m.owners.indexOf(owner), 1);
          const first = Number(owner.phyAddr - 0x0400_0000n) / PAGE;
          for (let p = first; p < first + owner.pages; p++) m.used[p] = false;
          for (const other of m.handles)
            if (other.target.kind === 'alloc' && other.target.owner === owner) other.live = false;
          assert.equal(cleared, true, where);
        }
        break;
      }
      case 'cpuWrite': {
        const h = pick(m.handles, o.h);
        if (h === undefined || !h.live) break;
        const view = h.mem.virAddr!;
        const offset = o.offset % view.byteLength;
        const end = Math.min(view.byteLength, offset + o.length * SCALE);
        await on(h, true).cpuWrite(h, offset, end, o.value);
        m.cpuView(h).fill(o.value, offset, end);
        break;
      }
      case 'writeMem': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const size = (o.size % 300) + 1;
        const code = await on(h, true).writeMem(h, size, o.value);
        const ok = h.live && size <= h.mem.memSize;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok) m.cpuView(h).fill(o.value, 0, size);
        break;
      }
      case 'readMem': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const size = (o.size % 300) + 1;
        const { code, bytes: dest } = await on(h, true).readMem(h, size);
        const ok = h.live && size <= h.mem.memSize;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok) assert.deepEqual(dest, m.cpuView(h).slice(0, size), where);
        break;
      }
      case 'flush': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const full = h.live ? h.mem.virAddr!.byteLength : 1;
        const memSize = o.memSize === -1 ? full : (o.memSize % full) + 1;
        const code = await on(h, true).flush(h, memSize, o.flag);
        const ok = h.live && (o.flag === 1 || o.flag === 2);
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (!ok) break;
        if (h.target.kind === 'alloc') {
          if (h.target.owner.cached) m.flush(h.target.owner, 0, memSize, o.flag);
        } else {
          const r = h.target.reg;
          m.flush(r.owner, r.offset, r.offset + memSize, o.flag);
        }
        break;
      }
      case 'register': {
        const owner = pick(m.owners, o.h);
        if (owner === undefined) break;
        const offset = (o.offset * SCALE) % owner.size;
        const regSize = o.size * SCALE;
        const key = keys++;
        const { code, mem } = await here.register(key, owner.phyAddr + BigInt(offset), regSize);
        const inside = offset + regSize <= owner.size;
        const overlaps = owner.regs.some(
          (r) => offset < r.offset + r.size && r.offset < offset + regSize,
        );
        const ok = inside && !overlaps;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_REGISTER_MEM_FAILED, where);
        if (!ok) break;
        const reg: ModelReg = { owner, offset, size: regSize };
        owner.regs.push(reg);
        const home = there ? 'worker' : 'main';
        m.handles.push({ mem, target: { kind: 'reg', reg }, live: true, home, key });
        break;
      }
      case 'unregister': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const code = await on(h, false).unregister(h);
        const ok = h.live && h.target.kind === 'reg';
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok && h.target.kind === 'reg') {
          const r = h.target.reg;
          r.owner.regs.splice(r.owner.regs.indexOf(r), 1);
          h.live = false;
        }
        break;
      }
      case 'bpuCopy':
      case 'bpuFill': {
        const dst = pick(m.handles, o.op === 'bpuCopy' ? o.dst : o.dst);
        const src = o.op === 'bpuCopy' ? pick(m.handles, o.src) : undefined;
        if (dst === undefined || (o.op === 'bpuCopy' && src === undefined)) break;
        const size = o.size * SCALE;
        const d = m.resolve(dst.mem.phyAddr, size);
        const s = src && m.resolve(src.mem.phyAddr, size);
        const ok = d !== undefined && (o.op === 'bpuFill' || s !== undefined);
        const fault = await here.bpu(
          o.op === 'bpuCopy' ? 'copy' : 'fill',
          dst.mem.phyAddr,
          src?.mem.phyAddr ?? 0n,
          o.op === 'bpuFill' ? o.value : 0,
          size,
        );
        if (!ok) {
          assert.match(fault ?? 'no fault', /not inside one live/, where);
          break;
        }
        assert.equal(fault, undefined, where);
        if (o.op === 'bpuCopy') {
          const bytes = s!.owner.memory.slice(s!.offset, s!.offset + size);
          d!.owner.memory.set(bytes, d!.offset);
        } else {
          d!.owner.memory.fill(o.value, d!.offset, d!.offset + size);
        }
        break;
      }
    }
    // Compare everything after every step.
    for (const h of m.handles) {
      if (!h.live) continue;
      // Its bytes (virAddr is of a Uint8Array subclass, whose prototype deepEqual compares).
      const shown = new Uint8Array(h.mem.virAddr!);
      assert.deepEqual(shown, m.cpuView(h), `${where}: CPU view differs`);
    }
    for (const owner of m.owners) {
      assert.deepEqual(
        emulator.peek(owner.phyAddr, owner.size),
        owner.memory.subarray(0, owner.size),
        `${where}: physical memory differs`,
      );
    }
    const s = emulator.stats();
    assert.equal(s.allocationCount, m.owners.length, where);
    assert.equal(
      s.bytesRequested,
      m.owners.reduce((n, x) => n + x.size, 0),
      `${where}: bytes asked for`,
    );
    assert.equal(
      s.bytesInUse,
      m.owners.reduce((n, x) => n + x.pages * PAGE, 0),
      where,
    );
    assert.equal(
      s.registrationCount,
      m.owners.reduce((n, x) => n + x.regs.length, 0),
      where,
    );
  }
}

for (const page of [256, 4096]) {
  test(`random sequences of all eight calls and BPU work match the reference model (${page} B pages)`, async () => {
    PAGE = page;
    SCALE = page / 256;
    SPLIT = false;
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), run), {
      numRuns: 150,
    });
  });
}

test('the same sequences split across two threads that share the machine (256 B pages)', async () => {
  PAGE = 256;
  SCALE = 1;
  SPLIT = true;
  try {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), run), {
      numRuns: 150,
    });
    assert.ok(calls > 100, `only ${calls} calls ran in the worker`);
  } finally {
    SPLIT = false;
  }
});
