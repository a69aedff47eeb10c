/**
 * Observability on the native backend, over the C stand-in for libdnn: the memory hbsys
 * handed out (counts, bytes, high-water) in the stats shape of both backends, the dump and
 * the trace with labels, and the leak report at exit with size, address, label and stack.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  allocate,
  dumpHeap,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  hbSysFlushMem,
  hbSysFreeMem,
  type MemoryStats,
  observeStats,
  register,
  TraceRecorder,
  useBackend,
} from '../../src/index.js';
import { type LedgerEvent, onLedgerEvent } from '../../src/native/ledger.js';
import { hbsys } from '../cli-helpers.js';
import { nodeCommand } from '../helpers.js';
import { standinPath } from './standin.js';

const path = standinPath();

before(() => {
  process.env.HBSYS_LIBDNN = path;
  useBackend('native');
});

describe('stats, dump and trace on the native backend', () => {
  test('counts follow allocations, registrations and flushes; failures change nothing', () => {
    const start: MemoryStats = observeStats();
    assert.equal(start.backend, 'native');
    const recorder = new TraceRecorder();
    const input = allocate(10_000, { cached: true, label: 'input' });
    const output = allocate(3000, { label: 'output' });
    const crop = register(input.phyAddr + 4096n, 1000, { label: 'crop' });
    input.clean();
    hbSysFlushMem(input.mem, HB_SYS_MEM_CACHE_INVALIDATE);
    let s = observeStats();
    assert.deepEqual(
      {
        allocationCount: s.allocationCount - start.allocationCount,
        bytesRequested: s.bytesRequested - start.bytesRequested,
        bytesInUse: s.bytesInUse - start.bytesInUse,
        registrationCount: s.registrationCount - start.registrationCount,
        allocs: s.allocs - start.allocs,
        registrations: s.registrations - start.registrations,
        cleans: s.cleans - start.cleans,
        invalidates: s.invalidates - start.invalidates,
        bytesCleaned: s.bytesCleaned - start.bytesCleaned,
      },
      {
        allocationCount: 2,
        bytesRequested: 13_000,
        bytesInUse: 13_000,
        registrationCount: 1,
        allocs: 2,
        registrations: 1,
        cleans: 1,
        invalidates: 1,
        bytesCleaned: 10_000,
      },
    );
    assert.ok(s.peakBytesInUse >= start.bytesInUse + 13_000);
    const detailed = observeStats({ detailed: true });
    assert.equal(detailed.backend, 'native');
    if (detailed.backend === 'native') {
      assert.equal(detailed.libraryPath, path);
      assert.equal(detailed.bytesRegistered, 1000);
    }
    assert.deepEqual(detailed.byLabel.input, { allocations: 1, bytes: 10_000, registrations: 0 });
    assert.deepEqual(detailed.byLabel.crop, { allocations: 0, bytes: 0, registrations: 1 });

    // The dump lists what was handed out, with labels, in address order, in the one hex format.
    const dump = dumpHeap();
    assert.equal(dump.backend, 'native');
    assert.deepEqual(dump.regions, []);
    assert.equal(dump.cacheModel, null);
    const mine = dump.mappings.filter((m) => m.label !== null);
    assert.deepEqual(
      mine.map((m) => [m.kind, m.size, m.label, m.cached]),
      [
        ['allocation', 10_000, 'input', true],
        ['registration', 1000, 'crop', true],
        ['allocation', 3000, 'output', false],
      ],
    );
    for (const m of dump.mappings) assert.match(m.phyAddr, /^0x[0-9a-f]{8,}$/);
    assert.equal(mine[0]!.phyAddr, `0x${input.phyAddr.toString(16).padStart(8, '0')}`);

    // A free that fails (twice) leaves every count as it was.
    const peak = observeStats().peakBytesInUse;
    crop.free();
    output.free();
    const copy = { ...input.mem };
    input.free();
    s = observeStats();
    assert.equal(hbSysFreeMem(copy), HB_SYS_INVALID_ARGUMENT);
    assert.deepEqual(observeStats(), s);
    assert.equal(s.allocationCount, start.allocationCount);
    assert.equal(s.bytesInUse, start.bytesInUse);
    assert.equal(s.registrationCount, start.registrationCount);
    assert.equal(s.frees - start.frees, 2);
    assert.equal(s.peakBytesInUse, peak, 'the high-water mark stays');

    // The trace: lifetimes on the native track and the registrations track, with labels.
    recorder.stop();
    const events = recorder.toTrace().traceEvents.filter((e) => e.ph === 'X');
    const byName = new Map(events.map((e) => [e.name, e]));
    assert.equal(byName.get('input')!.cat, 'allocation');
    assert.equal(byName.get('input')!.args!.size, 10_000);
    assert.equal(byName.get('input')!.args!.open, undefined, 'freed: the slice is closed');
    assert.equal(byName.get('crop')!.cat, 'registration');
    assert.equal(byName.get('crop')!.args!.label, 'crop');
    assert.deepEqual(
      events.filter((e) => e.cat === 'flush').map((e) => [e.name, e.args!.label]),
      [
        ['CLEAN', 'input'],
        ['INVALIDATE', 'input'],
      ],
    );
    // One clock: microseconds since the process started.
    for (const e of events) assert.ok(e.ts > 0 && e.ts <= performance.now() * 1000);
    assert.equal(HB_SYS_MEM_CACHE_CLEAN, 2);
  });
});

describe('crops in the ledger', () => {
  test("a flush of a crop counts and is traced at the crop's address and size", () => {
    const events: LedgerEvent[] = [];
    const stop = onLedgerEvent((e) => events.push(e));
    const frame = allocate(8192, { cached: true, label: 'frame' });
    const before = observeStats();
    const mem = frame.mem;
    const crop = {
      phyAddr: mem.phyAddr + 4096n,
      virAddr: mem.virAddr!.subarray(4096),
      memSize: 100,
    };
    assert.equal(hbSysFlushMem(crop, HB_SYS_MEM_CACHE_CLEAN), 0);
    stop();
    assert.equal(observeStats().bytesCleaned - before.bytesCleaned, 100);
    const flushes = events.filter((e) => e.type === 'flush');
    assert.deepEqual(
      flushes.map((e) => [e.op, e.phyAddr, e.size, e.label]),
      [['clean', mem.phyAddr + 4096n, 100, 'frame']],
    );
    frame.free();
  });
});

describe('the leak report at exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-ledger-'));
  const index = new URL('../../src/index.js', import.meta.url).href;
  const app = join(dir, 'leaky-app.mjs');
  writeFileSync(
    app,
    `import { allocate, register } from ${JSON.stringify(index)};
     const kept = allocate(5000, { cached: true, label: 'kept tensor' });
     register(kept.phyAddr, 100, { label: 'kept crop' });
     allocate(64, { label: 'freed' }).free();
     console.log('ran');
    `,
  );

  function run(
    env: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const [command, args] = nodeCommand(['--enable-source-maps', app]);
      const child = spawn(command, args, {
        env: { ...process.env, HBSYS_BACKEND: 'native', HBSYS_LIBDNN: path, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  test('what is still live: size, phyAddr, label and where, on stderr and in the report file', async () => {
    const reportFile = join(dir, 'report.json');
    writeFileSync(reportFile, JSON.stringify({ findings: [{ kind: 'earlier', message: 'kept' }] }));
    const r = await run({
      HBSYS_SANITIZE: 'report',
      HBSYS_STACKS: '1',
      HBSYS_REPORT_FILE: reportFile,
      HBSYS_REPORT_QUIET: '1',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    assert.equal(r.stderr, '', 'quiet: the tool that set the file prints the report');
    const { findings } = JSON.parse(readFileSync(reportFile, 'utf8'));
    assert.deepEqual(
      findings.map((f: { kind: string; size?: number; label?: string }) => [
        f.kind,
        f.size,
        f.label,
      ]),
      [
        ['earlier', undefined, undefined],
        ['leak', 5000, 'kept tensor'],
        ['leak', 100, 'kept crop'],
      ],
    );
    for (const f of findings.slice(1)) {
      assert.match(f.phyAddr, /^0x[0-9a-f]{8,}$/);
      assert.equal(f.severity, 'error');
      assert.match(f.allocStack, /leaky-app\.mjs:\d+/);
      assert.match(f.message, /still live at exit on the native backend/);
    }
    assert.match(findings[2].message, /hbSysUnregisterMem/);
  });

  test('on stderr; nothing without HBSYS_SANITIZE', async () => {
    const r = await run({ HBSYS_SANITIZE: 'report' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /hbsys \(native backend\): 2 allocation\(s\) and registration\(s\) still live at exit/,
    );
    assert.match(
      r.stderr,
      /#1 leak at 0x[0-9a-f]{8,} \(\+5000 bytes\): allocation of 5000 bytes .*'kept tensor'/,
    );
    const quiet = await run({ HBSYS_SANITIZE: '' });
    assert.equal(quiet.stderr, '');
  });

  test('hbsys check on the native backend: the leaks are its findings, JSON alone on stdout', async () => {
    // As a user writes it: 'hbsys' is the package the CLI runs (its preload records the trace).
    const cliApp = join(dir, 'leaky-app-cli.mjs');
    writeFileSync(cliApp, readFileSync(app, 'utf8').replace(JSON.stringify(index), "'hbsys'"));
    const trace = join(dir, 'native-trace.json');
    const r = await hbsys(['check', '--json', '--trace', trace, cliApp], {
      HBSYS_BACKEND: 'native',
      HBSYS_LIBDNN: path,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ran$/m, "the program's stdout is on stderr");
    const { findings } = JSON.parse(r.stdout);
    assert.deepEqual(
      findings.map((f: { kind: string; label: string }) => [f.kind, f.label]),
      [
        ['leak', 'kept tensor'],
        ['leak', 'kept crop'],
      ],
    );
    assert.match(findings[0].allocStack, /leaky-app-cli\.mjs:2:\d+/);
    const names = JSON.parse(readFileSync(trace, 'utf8'))
      .traceEvents.filter((e: { ph: string }) => e.ph === 'X')
      .map((e: { name: string; cat: string }) => `${e.cat}:${e.name}`);
    assert.deepEqual(names.sort(), [
      'allocation:freed',
      'allocation:kept tensor',
      'registration:kept crop',
    ]);
  });
});
