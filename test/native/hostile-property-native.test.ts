/**
 * The hostile-object property on the native backend, over the C stand-in for libdnn, in a
 * child process (hostile-child.ts): no case may crash the process, throw, return another
 * code than documented, or change the live counts in C.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HOSTILE_CASES } from '../contract/hostile-property.js';
import { runNode } from '../helpers.js';
import { standinPath } from './standin.js';

const FUNCTION_CASES = HOSTILE_CASES.functions;
const BUFFER_CASES = HOSTILE_CASES.buffer;

const CHILD = fileURLToPath(new URL('./hostile-child.js', import.meta.url));

test(`hostile arguments on the native backend, in a child process (${FUNCTION_CASES} + ${BUFFER_CASES} cases)`, async () => {
  const log = join(mkdtempSync(join(tmpdir(), 'hbsys-hostile-')), 'cases.log');
  const { code, signal, stdout, stderr } = await runNode(CHILD, [], {
    HBSYS_LIBDNN: standinPath(),
    HBSYS_HOSTILE_LOG: log,
    HBSYS_FUNCTION_CASES: String(FUNCTION_CASES),
    HBSYS_BUFFER_CASES: String(BUFFER_CASES),
  });
  const lines = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n') : [];
  const last = lines.at(-1) ?? '(none)';
  assert.equal(signal, null, `the process died of ${signal} at case ${lines.length}: ${last}`);
  assert.equal(code, 0, `exit ${code} at case ${lines.length}: ${last}\n${stderr}`);
  const result = JSON.parse(stdout) as { functions: number; buffer: number; tally: string };
  assert.equal(result.functions, FUNCTION_CASES);
  assert.equal(result.buffer, BUFFER_CASES);
  console.log(`# hostile cases, native: ${result.functions} + ${result.buffer} (${result.tally})`);
});
