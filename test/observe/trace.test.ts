/** The Chrome trace: slices on their own tracks, lanes that never overlap, the counter. */

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { allocate, emulator, register } from '../../src/index.js';
import { TRACKS, type TraceEvent, TraceRecorder } from '../../src/observe/trace.js';
import { smallMachine } from '../helpers.js';

beforeEach(() => smallMachine());

function slices(events: TraceEvent[], base: number): TraceEvent[] {
  return events.filter((e) => e.ph === 'X' && e.tid >= base && e.tid < base + 100);
}

test('allocation lifetimes, registrations and flushes as slices; bytes in use as a counter', async () => {
  const before = allocate(4096, { label: 'before' });
  const rec = new TraceRecorder();
  const a = allocate(100, { cached: true, label: 'a' });
  const b = allocate(8192, { label: 'b' }); // overlaps a: must go on another lane
  a.write(new Uint8Array(100).fill(1)).clean();
  await emulator.bpu.copy(b.phyAddr, a.phyAddr, 100);
  a.invalidate();
  a.free();
  const frame = emulator.vio.alloc(4096);
  const reg = register(frame.phyAddr, 4096);
  reg.free();
  emulator.vio.free(frame.phyAddr);
  rec.stop();
  const trace = rec.toTrace();
  // A JSON document with the fields trace viewers need.
  const parsed = JSON.parse(JSON.stringify(trace)) as typeof trace;
  assert.equal(parsed.displayTimeUnit, 'ms');
  for (const e of parsed.traceEvents) {
    assert.equal(typeof e.name, 'string');
    assert.ok(['X', 'C', 'M'].includes(e.ph), e.ph);
    assert.equal(typeof e.ts, 'number');
    assert.equal(e.pid, 1);
  }
  const allocs = slices(parsed.traceEvents, TRACKS.allocation.tid);
  assert.deepEqual(allocs.map((e) => e.name).sort(), ['a', 'b', 'before']);
  const byName = new Map(allocs.map((e) => [e.name, e]));
  assert.equal(byName.get('before')!.args!.beforeTrace, true);
  assert.equal(
    byName.get('b')!.args!.open,
    true,
    'b is still live: its slice ends at the trace end',
  );
  assert.equal(byName.get('a')!.args!.open, undefined);
  assert.equal(byName.get('a')!.args!.size, 100);
  // No two slices on one track overlap (overlaps draw wrong in trace viewers).
  const byTid = new Map<number, TraceEvent[]>();
  for (const e of parsed.traceEvents.filter((x) => x.ph === 'X')) {
    byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
  }
  for (const [tid, list] of byTid) {
    list.sort((x, y) => x.ts - y.ts);
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i]!.ts >= list[i - 1]!.ts + list[i - 1]!.dur!, `overlap on track ${tid}`);
    }
  }
  assert.equal(
    new Set(allocs.map((e) => e.tid)).size,
    3,
    'three overlapping lifetimes, three lanes',
  );
  const flushes = slices(parsed.traceEvents, TRACKS.flush.tid);
  assert.deepEqual(
    flushes.map((e) => [e.name, e.args!.size]),
    [
      ['CLEAN', 100],
      ['INVALIDATE', 100],
    ],
  );
  const jobs = slices(parsed.traceEvents, TRACKS.bpu.tid);
  assert.deepEqual(
    jobs.map((e) => [e.name, e.args!.bytes]),
    [['bpu.copy', 100]],
  );
  assert.ok(jobs[0]!.dur! > 0, 'a job lasts from submission to completion');
  assert.deepEqual(
    slices(parsed.traceEvents, TRACKS.vio.tid).map((e) => [e.args!.size, e.args!.open]),
    [[4096, undefined]],
  );
  assert.deepEqual(
    slices(parsed.traceEvents, TRACKS.registration.tid).map((e) => e.args!.size),
    [4096],
  );
  // The counter follows bytes in use: before, +a, +b, -a; VIO +1 page, -1 page.
  const counter = parsed.traceEvents.filter((e) => e.ph === 'C');
  assert.deepEqual(
    counter.map((e) => [e.args!.ion, e.args!.vio]),
    [
      [4096, 0],
      [8192, 0],
      [16384, 0],
      [12288, 0],
      [12288, 4096],
      [12288, 0],
    ],
  );
  const names = parsed.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
  assert.ok(names.some((e) => e.args!.name === 'ION allocations 3'));
  assert.ok(names.some((e) => e.args!.name === 'flushes'));
  b.free();
  before.free();
});

test('a stopped recorder sees nothing more', () => {
  const rec = new TraceRecorder();
  rec.stop();
  allocate(64).free();
  assert.equal(rec.eventCount, 0);
});

test('the trace follows emulator.reset: the old machine ends at the reset, labels name registrations, one clock', async () => {
  const rec = new TraceRecorder();
  const t0 = performance.now();
  const kept = allocate(4096, { label: 'kept over the reset' });
  const frame = emulator.vio.alloc(4096);
  register(frame.phyAddr, 4096, { label: 'camera frame' });
  await smallMachine();
  const resetAt = performance.now();
  const after = allocate(100, { cached: true, label: 'after the reset' });
  after.clean();
  after.free();
  rec.stop();
  const x = rec.toTrace().traceEvents.filter((e) => e.ph === 'X');
  const byName = new Map(x.map((e) => [e.name, e]));
  const old = byName.get('kept over the reset')!;
  assert.equal(old.args!.endedByReset, true);
  assert.equal(old.args!.open, undefined);
  assert.ok((old.ts + old.dur!) / 1000 <= resetAt, 'it ends at the reset');
  const reg = byName.get('camera frame')!;
  assert.equal(reg.cat, 'registration');
  assert.equal(reg.args!.label, 'camera frame');
  assert.equal(reg.args!.endedByReset, true);
  // Ids restart with each machine; the new machine's slices are its own.
  const fresh = byName.get('after the reset')!;
  assert.equal(fresh.args!.open, undefined);
  assert.ok(fresh.ts / 1000 >= resetAt);
  // Microseconds since the process started: the clock of dumps and findings, times 1000.
  for (const e of x) assert.ok(e.ts / 1000 >= t0 && e.ts / 1000 <= performance.now(), e.name);
  assert.ok(x.every((e) => /^0x[0-9a-f]{8,}$/.test(String(e.args!.phyAddr ?? '0x00000000'))));
  void kept;
});

test("the sanitizer's findings as instants on their own track, when they were made", async () => {
  await smallMachine({ sanitize: 'report' });
  emulator.clearFindings();
  const rec = new TraceRecorder();
  const a = allocate(4096, { cached: true, label: 'input' });
  a.write(new Uint8Array(64).fill(7)); // dirty lines, never CLEANed ...
  await emulator.bpu.copy(a.phyAddr, a.phyAddr + 2048n, 64).catch(() => {}); // ... read by the BPU
  a.free();
  rec.stop();
  const found = emulator.findings();
  assert.ok(found.length > 0, 'the buggy program has a finding');
  const events = rec.toTrace().traceEvents;
  const instants = events.filter((e) => e.ph === 'i' && e.tid === TRACKS.findings.tid);
  assert.deepEqual(
    instants.map((e) => e.name),
    found.map((f) => f.kind),
  );
  for (const e of instants) {
    assert.ok(['error', 'warning'].includes(e.args!.severity as string));
    assert.match(e.args!.phyAddr as string, /^0x[0-9a-f]{8,}$/);
  }
  const alloc = slices(events, TRACKS.allocation.tid).find((e) => e.name === 'input')!;
  assert.ok(instants[0]!.ts >= alloc.ts && instants[0]!.ts <= alloc.ts + alloc.dur!);
  assert.ok(
    events.some((e) => e.ph === 'M' && e.tid === TRACKS.findings.tid),
    'the track is named',
  );
  emulator.clearFindings();
  await smallMachine();
});
