/**
 * `hbsys bench`, run as a user runs it: the quick suite's report. In a file of its own: it is
 * the longest of the CLI's tests, and test files run side by side.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hbsys } from '../cli-helpers.js';

/** The aims every run reports, quick or full (the quick run has fewer sizes, not fewer aims). */
const AIMS = [
  /^hbSysAllocMem\+hbSysFreeMem 4 KiB, fresh mem per call/,
  /^churn through the API at 100k live/,
  /^GC share of that churn/,
  /^hbSysAllocMem\+hbSysFreeMem 1 MiB, fresh mem/,
  /^hbSysAllocCachedMem\+hbSysFreeMem 1 MiB, fresh mem/,
  /^JS heap per live hbSysAllocMem at 100k live, whole emulator/,
  /^4 KiB alloc\+free pair, fresh mem from a worker thread/,
  /^hbSysWriteMem 64 B from a worker thread/,
  /^BPU 4 KiB copy from a worker thread/,
  /^sanitizer: read loop of 1M elements as mem\.virAddr\[i\]/,
  /^sanitizer: 20k distinct findings recorded/,
];

test('bench --json: the quick suite, every aim beside its baseline', async () => {
  const r = await hbsys(['bench', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.quick, true);
  assert.ok(report.allocator.length >= 1);
  for (const row of report.summary) {
    assert.equal(typeof row.figure, 'string');
    assert.ok(['met', 'missed', 'not run', 'information'].includes(row.verdict), row.verdict);
  }
  for (const aim of AIMS) {
    const row = report.summary.find((s: { figure: string }) => aim.test(s.figure));
    assert.ok(row, `the summary reports ${aim}`);
    assert.notEqual(row.verdict, 'information', `${row.figure} is checked against its aim`);
  }
  // The heap figure needs a full GC, which hbsys bench gets without node --expose-gc.
  assert.ok(report.memory.emulatorMeasured > 0, 'the heap per allocation was measured');
  assert.ok(report.memory.plainObject > 0, 'the plain objects were measured');
  assert.equal(r.stderr.includes('%'), false, 'no progress bar when stderr is not a terminal');
});
