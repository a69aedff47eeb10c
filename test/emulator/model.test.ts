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
import { test } from 'node:test';
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
}

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
  const m = new Model();
  for (const [step, o] of ops.entries()) {
    const where = `step ${step}: ${JSON.stringify(o)}`;
    switch (o.op) {
      case 'alloc': {
        const mem = {} as hbSysMem;
        const size = o.size * SCALE;
        const code = (o.cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size);
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
        m.handles.push({ mem, target: { kind: 'alloc', owner }, live: true });
        break;
      }
      case 'free': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const mem = o.copy ? { ...h.mem } : h.mem;
        const code = hbSysFreeMem(mem);
        const ok = h.live && h.target.kind === 'alloc' && h.target.owner.regs.length === 0;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok && h.target.kind === 'alloc') {
          const owner = h.target.owner;
          m.owners.splice(m.owners.indexOf(owner), 1);
          const first = Number(owner.phyAddr - 0x0400_0000n) / PAGE;
          for (let p = first; p < first + owner.pages; p++) m.used[p] = false;
          for (const other of m.handles)
            if (other.target.kind === 'alloc' && other.target.owner === owner) other.live = false;
          assert.equal(mem.virAddr, null, where);
        }
        break;
      }
      case 'cpuWrite': {
        const h = pick(m.handles, o.h);
        if (h === undefined || !h.live) break;
        const view = h.mem.virAddr!;
        const offset = o.offset % view.byteLength;
        const end = Math.min(view.byteLength, offset + o.length * SCALE);
        view.fill(o.value, offset, end);
        m.cpuView(h).fill(o.value, offset, end);
        break;
      }
      case 'writeMem': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const size = (o.size % 300) + 1;
        const src = new Uint8Array(size).fill(o.value);
        const code = hbSysWriteMem(h.mem, src, size);
        const ok = h.live && size <= h.mem.memSize;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_INVALID_ARGUMENT, where);
        if (ok) m.cpuView(h).fill(o.value, 0, size);
        break;
      }
      case 'readMem': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const size = (o.size % 300) + 1;
        const dest = new Uint8Array(size);
        const code = hbSysReadMem(dest, h.mem, size);
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
        const saved = h.mem.memSize;
        h.mem.memSize = memSize;
        const code = hbSysFlushMem(h.mem, o.flag as HbSysFlushFlag); // 3 too: a bad flag
        h.mem.memSize = saved;
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
        const mem = { phyAddr: owner.phyAddr + BigInt(offset), memSize: regSize } as hbSysMem;
        const code = hbSysRegisterMem(mem);
        const inside = offset + regSize <= owner.size;
        const overlaps = owner.regs.some(
          (r) => offset < r.offset + r.size && r.offset < offset + regSize,
        );
        const ok = inside && !overlaps;
        assert.equal(code, ok ? HB_SYS_SUCCESS : HB_SYS_REGISTER_MEM_FAILED, where);
        if (!ok) break;
        const reg: ModelReg = { owner, offset, size: regSize };
        owner.regs.push(reg);
        m.handles.push({ mem, target: { kind: 'reg', reg }, live: true });
        break;
      }
      case 'unregister': {
        const h = pick(m.handles, o.h);
        if (h === undefined) break;
        const code = hbSysUnregisterMem(h.mem);
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
        const job =
          o.op === 'bpuCopy'
            ? emulator.bpu.copy(dst.mem.phyAddr, src!.mem.phyAddr, size)
            : emulator.bpu.fill(dst.mem.phyAddr, o.value, size);
        if (!ok) {
          await assert.rejects(job, /not inside one live/, where);
          break;
        }
        await job;
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
      assert.deepEqual(h.mem.virAddr, m.cpuView(h), `${where}: CPU view differs`);
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
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), run), {
      numRuns: 150,
    });
  });
}
