/**
 * The reference documentation builds (`npm run docs`) with TypeDoc's validation on and
 * every warning an error: each export documented, every type in a public signature
 * exported, every {@link} resolved.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { outcome, runTool } from './tools.js';

test('TypeDoc builds the reference with no warning', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'hbsys-docs-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  // dist/cli.js: TypeDoc's bin forks it with process.execPath.
  const r = await outcome(runTool('typedoc/dist/cli.js', ['--out', out]));
  assert.equal(r.code, 0, `typedoc failed (run npm run docs):\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /warning|error/i);
  for (const page of [
    'index.html',
    'functions/hbSysFlushMem.html',
    'types/HbSysStatusCode.html',
    'media/dump-schema.md',
  ]) {
    assert.ok(existsSync(join(out, page)), `${page} is built`);
  }
});
