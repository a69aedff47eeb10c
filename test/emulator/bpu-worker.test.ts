/**
 * The BPU worker's robustness: many jobs in flight, order, faults that do not stop it, a
 * worker that dies, reset while jobs run, and a program that exits without awaiting.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RING } from '../../src/emulator/bpu-queue.js';
import { currentBpu } from '../../src/emulator/index.js';
import { allocate, BpuFaultError, emulator } from '../../src/index.js';
import { nodeCommand } from '../helpers.js';

const run = promisify(execFile);
const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));

describe('the BPU worker', () => {
  beforeEach(() => emulator.reset({ heapSize: 64 << 20, vioSize: 1 << 20 }));

  test('more jobs than the ring holds complete, in submission order', async () => {
    using buf = allocate(4096);
    const order: number[] = [];
    const n = 3 * RING;
    // Submitted without awaiting: a submission that finds the ring full waits for room.
    const jobs = Array.from({ length: n }, (_, i) =>
      emulator.bpu.fill(buf.phyAddr + BigInt(i % 4096), i & 0xff, 1).then(() => order.push(i)),
    );
    await Promise.all(jobs);
    assert.deepEqual(
      order,
      Array.from({ length: n }, (_, i) => i),
    );
    assert.equal(emulator.stats().bpuJobs, n);
    assert.equal(emulator.stats().bpuJobsInFlight, 0);
  });

  test('a job the worker cannot run is reported as a fault, and later jobs still run', async () => {
    using buf = allocate(64);
    const bad = currentBpu().enqueue(
      99,
      { reads: [], writes: [], params: [], bytes: 0 },
      'bad job',
    );
    const good = emulator.bpu.fill(buf.phyAddr, 7, 64);
    await assert.rejects(bad, (e: unknown) => {
      assert.ok(e instanceof BpuFaultError);
      assert.match(e.message, /faulted on the BPU: unknown kernel index 99/);
      return true;
    });
    await good;
    assert.equal(buf.read()[63], 7);
  });

  test('a worker that dies rejects its jobs with the reason; the next job starts a new one', async () => {
    using a = allocate(32 << 20);
    using b = allocate(32 << 20);
    await emulator.bpu.fill(a.phyAddr, 1, 16); // starts the worker
    const worker = currentBpu().worker!;
    const jobs = Array.from({ length: 20 }, () =>
      emulator.bpu.copy(b.phyAddr, a.phyAddr, 32 << 20),
    );
    await worker.terminate();
    const settled = await Promise.allSettled(jobs);
    const rejected = settled.filter((s) => s.status === 'rejected');
    assert.ok(rejected.length > 0, 'some jobs were lost with the worker');
    for (const r of rejected)
      assert.match(String((r as PromiseRejectedResult).reason), /BPU worker stopped unexpectedly/);
    await emulator.bpu.fill(b.phyAddr, 9, 16);
    assert.notEqual(currentBpu().worker, worker, 'a new worker');
    assert.equal(b.read(undefined, 0)[15], 9);
  });

  test('reset while jobs run: they reject, and the new machine works', async () => {
    const a = allocate(32 << 20);
    const b = allocate(32 << 20);
    const jobs = Array.from({ length: 10 }, () =>
      emulator.bpu.copy(b.phyAddr, a.phyAddr, 32 << 20),
    );
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const settled = await Promise.allSettled(jobs);
    assert.ok(settled.some((s) => s.status === 'rejected'));
    for (const s of settled) {
      if (s.status === 'rejected') assert.match(String(s.reason), /emulator was reset/);
    }
    using c = allocate(64);
    await emulator.bpu.fill(c.phyAddr, 3, 64);
    assert.equal(c.read()[0], 3);
  });
});

describe('resets in a loop', () => {
  test('each machine with a BPU worker adds no listener of its own to the process', async () => {
    // Was one 'exit' listener per machine: a test suite that resets before each test got
    // Node's MaxListenersExceededWarning after ten.
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    await emulator.bpu.fill(allocate(64).phyAddr, 1, 64);
    const before = process.listenerCount('exit');
    for (let i = 0; i < 12; i++) {
      await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
      await emulator.bpu.fill(allocate(64).phyAddr, 1, 64);
    }
    assert.equal(process.listenerCount('exit'), before);
  });
});

describe('process exit', () => {
  test('a program that does not await its jobs exits once they are done', async () => {
    const script = `
      import { allocate, emulator } from ${JSON.stringify(entry)};
      await emulator.reset({ heapSize: 8 << 20, vioSize: 1 << 20 });
      const a = allocate(4 << 20);
      for (let i = 0; i < 50; i++) emulator.bpu.fill(a.phyAddr, i, 4 << 20);
      console.log('submitted');
    `;
    const { stdout } = await run(...nodeCommand(['--input-type=module', '-e', script]), {
      timeout: 30_000,
    });
    assert.equal(stdout.trim(), 'submitted');
  });

  test('a program that awaits its jobs is kept alive until they complete', async () => {
    const script = `
      import { allocate, emulator } from ${JSON.stringify(entry)};
      const a = allocate(1024);
      await emulator.bpu.fill(a.phyAddr, 5, 1024);
      console.log(a.read()[1023]);
    `;
    const { stdout } = await run(...nodeCommand(['--input-type=module', '-e', script]), {
      timeout: 30_000,
      env: { ...process.env, HB_DNN_SIM_BPU_MEM_SIZE: '4' },
    });
    assert.equal(stdout.trim(), '5');
  });

  test('report mode prints the findings at exit and writes HBSYS_REPORT_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hbsys-report-'));
    const file = join(dir, 'report.json');
    const script = `
      import { allocate } from ${JSON.stringify(entry)};
      allocate(4096, { label: 'leaked tensor' });
    `;
    const { stderr } = await run(...nodeCommand(['--input-type=module', '-e', script]), {
      timeout: 30_000,
      env: {
        ...process.env,
        HBSYS_SANITIZE: 'report',
        HBSYS_STACKS: '1',
        HBSYS_REPORT_FILE: file,
        HB_DNN_SIM_BPU_MEM_SIZE: '4',
      },
    });
    assert.match(stderr, /hbsys sanitizer: 1 finding/);
    assert.match(stderr, /leak at 0x04000000 \(\+4096 bytes\) 'leaked tensor'/);
    assert.match(stderr, /allocated at:/);
    const report = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(report.findings.length, 1);
    assert.equal(report.findings[0].kind, 'leak');
    assert.equal(report.findings[0].phyAddr, '0x04000000');
    assert.equal(report.stats.allocationCount, 1);
  });
});
