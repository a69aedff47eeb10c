/**
 * The reference documentation builds (`npm run docs`) with TypeDoc's validation on and
 * every warning an error: each export documented, every type in a public signature
 * exported, every {@link} resolved.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeCommand } from '../helpers.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

test('TypeDoc builds the reference with no warning', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'hbsys-docs-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const [cmd, args] = nodeCommand([join(root, 'node_modules/typedoc/bin/typedoc'), '--out', out]);
  let result: { stdout: string; stderr: string };
  try {
    result = await exec(cmd, args, {
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    assert.fail(`typedoc failed (run npm run docs):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  assert.doesNotMatch(result.stdout + result.stderr, /warning|error/i);
  for (const page of [
    'index.html',
    'functions/hbSysFlushMem.html',
    'types/HbSysStatusCode.html',
    'media/dump-schema.md',
  ]) {
    assert.ok(existsSync(join(out, page)), `${page} is built`);
  }
});
