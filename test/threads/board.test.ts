/**
 * One machine per process: worker threads started after the main thread used hbsys share
 * its machine (one heap, one slot table, one findings log), with no change to their code.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  type hbSysMem,
  hbSysReadMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { nodeCommand } from '../helpers.js';
import { inWorker } from './workers.js';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const entryUrl = pathToFileURL(entry).href;
const dir = mkdtempSync(join(tmpdir(), 'hbsys-threads-'));
let scripts = 0;

/** Runs `source` (an ES module importing the package as `h`) in a child process. */
async function inProcess(source: string, env: Record<string, string> = {}) {
  const file = join(dir, `p${scripts++}.mjs`);
  writeFileSync(file, `import * as h from ${JSON.stringify(entry)};\n${source}`);
  const [cmd, args] = nodeCommand([file]);
  return promisify(execFile)(cmd, args, { timeout: 60_000, env: { ...process.env, ...env } });
}

describe('one machine per process', () => {
  test('allocations from several threads at once never overlap, and all count in one heap', async () => {
    await emulator.reset({ heapSize: 8 << 20, vioSize: 1 << 20, pageSize: 64 });
    const mine: hbSysMem[] = [];
    const body = `
      const live = [];
      for (let i = 0; i < 300; i++) {
        const mem = {};
        const size = 64 + ((i * 7919 + data.seed) % 1500);
        if (h.hbSysAllocMem(mem, size) !== 0) throw new Error(h.hbSysGetLastError?.() ?? 'alloc');
        live.push(mem);
        if (i % 3 === 2) h.hbSysFreeMem(live.splice((i * 31) % live.length, 1)[0]);
      }
      return live.map((m) => [m.phyAddr, m.memSize]);`;
    const workers = [1, 2, 3].map((seed) => inWorker<[bigint, number][]>(body, { seed }));
    for (let i = 0; i < 300; i++) {
      const mem = {} as hbSysMem;
      assert.equal(hbSysAllocMem(mem, 64 + ((i * 104729) % 1500)), HB_SYS_SUCCESS);
      mine.push(mem);
    }
    const theirs = (await Promise.all(workers)).flat();
    const all = [...theirs, ...mine.map((m) => [m.phyAddr, m.memSize] as [bigint, number])];
    const ranges = all.map(([p, n]) => [Number(p), Number(p) + n]).sort((a, b) => a[0]! - b[0]!);
    for (let i = 1; i < ranges.length; i++) {
      assert.ok(
        ranges[i]![0]! >= ranges[i - 1]![1]!,
        `overlap at 0x${ranges[i]![0]!.toString(16)}`,
      );
    }
    assert.equal(emulator.stats().allocationCount, all.length);
    for (const m of mine) assert.equal(hbSysFreeMem(m), HB_SYS_SUCCESS);
  });

  test('a buffer written in one thread is registered and read in another, and back', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 4096), HB_SYS_SUCCESS);
    assert.equal(hbSysWriteMem(mem, new Uint8Array(4096).fill(42), 4096), HB_SYS_SUCCESS);
    const cached = {} as hbSysMem;
    assert.equal(hbSysAllocCachedMem(cached, 256), HB_SYS_SUCCESS);
    const seen = await inWorker<{ registered: number; read: number[]; flushed: number }>(
      `
      const reg = { phyAddr: data.mem.phyAddr, memSize: 4096 };
      const registered = h.hbSysRegisterMem(reg);
      h.hbSysFlushMem(reg, h.HB_SYS_MEM_CACHE_INVALIDATE);
      const out = new Uint8Array(2);
      h.hbSysReadMem(out, reg, 2);
      h.hbSysUnregisterMem(reg);
      // The mem itself crossed too: write through it, CLEAN it here.
      data.cached.virAddr.fill(7);
      const flushed = h.hbSysFlushMem(data.cached, h.HB_SYS_MEM_CACHE_CLEAN);
      return { registered, read: [...out], flushed };`,
      { mem, cached },
    );
    assert.deepEqual(seen, { registered: HB_SYS_SUCCESS, read: [42, 42], flushed: HB_SYS_SUCCESS });
    assert.equal(hbSysFlushMem(cached, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    const back = new Uint8Array(256);
    assert.equal(hbSysReadMem(back, cached, 256), HB_SYS_SUCCESS);
    assert.ok(back.every((b) => b === 7));
    assert.deepEqual([...emulator.peek(cached.phyAddr, 2)], [7, 7]);
    assert.equal(emulator.stats().registrationCount, 0);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(cached), HB_SYS_SUCCESS);
  });

  test('a mem freed in another thread is stale here', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocCachedMem(mem, 4096), HB_SYS_SUCCESS);
    const freed = await inWorker<number>('return h.hbSysFreeMem(data);', mem);
    assert.equal(freed, HB_SYS_SUCCESS);
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
    assert.equal(emulator.stats().allocationCount, 0);
    // The next allocation at that address is not reached through the old mem.
    const next = {} as hbSysMem;
    assert.equal(hbSysAllocCachedMem(next, 4096), HB_SYS_SUCCESS);
    assert.equal(next.phyAddr, mem.phyAddr);
    assert.equal(hbSysWriteMem(mem, new Uint8Array(4), 4), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysFreeMem(next), HB_SYS_SUCCESS);
  });

  test('BPU jobs from workers complete there, on the shared memory', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const src = {} as hbSysMem;
    const dst = {} as hbSysMem;
    assert.equal(hbSysAllocMem(src, 4096), HB_SYS_SUCCESS);
    assert.equal(hbSysAllocMem(dst, 4096), HB_SYS_SUCCESS);
    assert.equal(hbSysWriteMem(src, new Uint8Array(4096).fill(9), 4096), HB_SYS_SUCCESS);
    const jobs = emulator.stats().bpuJobs;
    const done = await inWorker<string>(
      `await h.emulator.bpu.copy(data.dst.phyAddr, data.src.phyAddr, 4096);
       await h.emulator.bpu.fill(data.dst.phyAddr, 5, 16);
       return 'done';`,
      { src, dst },
    );
    assert.equal(done, 'done');
    const out = new Uint8Array(4096);
    assert.equal(hbSysReadMem(out, dst, 4096), HB_SYS_SUCCESS);
    assert.ok(out.subarray(0, 16).every((b) => b === 5));
    assert.ok(out.subarray(16).every((b) => b === 9));
    assert.equal(emulator.stats().bpuJobs, jobs + 2);
  });

  test('reset: refused in a worker; in the maker it retires the machine for older workers, and newer ones share the new one', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const before = await inWorker<{ reset: string; alloc: number; phyAddr: bigint }>(`
      let reset = 'none';
      try { await h.emulator.reset(); } catch (e) { reset = e.name + ' ' + e.code; }
      const mem = {};
      const alloc = h.hbSysAllocMem(mem, 64);
      return { reset, alloc, phyAddr: mem.phyAddr };`);
    assert.equal(before.reset, `HbSysError ${HB_SYS_INVALID_ARGUMENT}`);
    assert.equal(before.alloc, HB_SYS_SUCCESS);
    assert.equal(emulator.stats().allocationCount, 1, 'the worker allocated in this heap');

    // A worker that stays across the reset.
    const file = join(dir, `w${scripts++}.mjs`);
    writeFileSync(
      file,
      `import * as h from ${JSON.stringify(entry)};
       import { parentPort } from 'node:worker_threads';
       const mem = {};
       h.hbSysAllocMem(mem, 64);
       parentPort.postMessage('ready');
       parentPort.once('message', () => {
         const again = h.hbSysAllocMem({}, 64);
         parentPort.postMessage({ again, message: h.hbSysGetLastError?.()?.message });
       });`,
    );
    const old = new Worker(file);
    await new Promise((resolve) => old.once('message', resolve));
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const after = new Promise<{ again: number }>((resolve) => old.once('message', resolve));
    old.postMessage('go');
    assert.equal((await after).again, HB_SYS_INVALID_ARGUMENT, 'the old machine is retired');
    await old.terminate();

    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 64), HB_SYS_SUCCESS);
    const newer = await inWorker<{ phyAddr: bigint; count: number }>(`
      const mem = {};
      h.hbSysAllocMem(mem, 64);
      return { phyAddr: mem.phyAddr, count: h.emulator.stats().allocationCount };`);
    assert.notEqual(newer.phyAddr, mem.phyAddr);
    assert.equal(newer.count, 2);
    assert.equal(emulator.stats().allocationCount, 2);
  });
});

describe('findings and the stderr notice', () => {
  test("a worker's findings appear in the exit report of the process", async () => {
    const report = join(dir, 'report.json');
    const { stderr } = await inProcess(
      `
      import { Worker } from 'node:worker_threads';
      const keep = {};
      h.hbSysAllocMem(keep, 64);
      h.hbSysFreeMem(keep);
      const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(
        "import * as h from " + JSON.stringify(${JSON.stringify(entryUrl)}) + ";" +
        "const m = {}; h.hbSysAllocMem(m, 64); h.hbSysFreeMem(m); h.hbSysFreeMem(m);")));
      await new Promise((r) => w.once('exit', r));
      console.log(h.emulator.findings().map((f) => f.kind).join(','));`,
      { HBSYS_SANITIZE: 'report', HBSYS_REPORT_FILE: report },
    );
    assert.match(stderr, /double-free/);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    assert.ok(json.findings.some((f: { kind: string }) => f.kind === 'double-free'));
  });

  test('a worker with no machine shared makes its own and says so once', async () => {
    const { stdout, stderr } = await inProcess(`
      import { Worker } from 'node:worker_threads';
      const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(
        "import * as h from " + JSON.stringify(${JSON.stringify(entryUrl)}) + ";" +
        "import { parentPort } from 'node:worker_threads';" +
        "const a = {}, b = {}; h.hbSysAllocMem(a, 64); h.hbSysAllocMem(b, 64);" +
        "parentPort.postMessage(a.phyAddr);")));
      const theirs = await new Promise((r) => w.once('message', r));
      const mine = {};
      h.hbSysAllocMem(mine, 64);
      console.log(String(theirs === mine.phyAddr));`);
    assert.equal(stdout.trim(), 'true', 'two machines: the same first address');
    assert.equal(stderr.match(/no machine was shared with this worker thread/g)?.length, 1);
  });
});
