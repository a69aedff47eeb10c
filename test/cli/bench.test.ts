/**
 * `hbsys bench`, run as a user runs it: the quick suite's report. In a file of its own: it is
 * the longest of the CLI's tests, and test files run side by side.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hbsys } from '../cli-helpers.js';

test('bench --json: the quick suite, every figure beside its baseline', async () => {
  const r = await hbsys(['bench', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.quick, true);
  assert.ok(report.allocator.length >= 1);
  assert.ok(report.summary.length >= 5);
  for (const row of report.summary) {
    assert.equal(typeof row.figure, 'string');
    assert.ok(['met', 'missed', 'not run'].includes(row.verdict), row.verdict);
  }
  assert.equal(r.stderr.includes('%'), false, 'no progress bar when stderr is not a terminal');
});
