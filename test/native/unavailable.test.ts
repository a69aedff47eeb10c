/**
 * A native backend that cannot load: stderr says why once, with the paths tried;
 * every call fails with HBSYS_BACKEND_UNAVAILABLE and that message (never "invalid
 * argument"); the load is not retried per call; a FIFO or a directory at HBSYS_LIBDNN is
 * refused without being opened. Each case runs in a child process, as a user's program.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nodeCommand } from '../helpers.js';
import { notLibdnnPath, standinPath } from './standin.js';

const INDEX = new URL('../../src/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'hbsys-unavailable-'));

/** What the child saw: codes of calls before and after the library appeared, and more. */
interface Seen {
  codes: number[];
  last: { fn: string; code: number; name?: string; message: string };
  desc: string;
  thrown: { name: string; code: number; message: string };
  explicit: number;
  UNAVAILABLE: number;
  INVALID: number;
}

const CHILD = `
import { copyFileSync } from 'node:fs';
import * as hb from '${INDEX}';
const codes = [];
for (let i = 0; i < 3; i++) codes.push(hb.hbSysAllocMem({}, 64));
const last = hb.hbSysGetLastError();
let thrown;
try { hb.allocate(64); } catch (e) { thrown = { name: e.name, code: e.code, message: e.message }; }
// The library appears where HBSYS_LIBDNN points: calls do not try again...
if (process.env.PUT_LIBRARY) copyFileSync(process.env.PUT_LIBRARY, process.env.HBSYS_LIBDNN);
codes.push(hb.hbSysFlushMem({}, 2));
// ...but an explicit useBackend does.
let explicit;
try { hb.useBackend('native'); const m = {}; explicit = hb.hbSysAllocMem(m, 64); hb.hbSysFreeMem(m); }
catch (e) { explicit = e.code; }
console.log(JSON.stringify({ codes, last, desc: hb.hbSysGetErrorDesc(codes[0]), thrown, explicit,
  UNAVAILABLE: hb.HBSYS_BACKEND_UNAVAILABLE, INVALID: hb.HB_SYS_INVALID_ARGUMENT }));
`;
const child = join(dir, 'child.mjs');
writeFileSync(child, CHILD);

function run(env: NodeJS.ProcessEnv): Promise<{ seen: Seen; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [command, args] = nodeCommand([child]);
    const p = spawn(command, args, {
      env: { ...process.env, HBSYS_BACKEND: 'native', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    // A FIFO opened by the loader would block for ever: the test must not.
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('error', reject);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
        return;
      }
      resolve({ seen: JSON.parse(stdout) as Seen, stderr });
    });
  });
}

function assertUnavailable(seen: Seen, stderr: string, mentions: RegExp): void {
  assert.equal(typeof seen.UNAVAILABLE, 'number', 'HBSYS_BACKEND_UNAVAILABLE is exported');
  assert.notEqual(seen.UNAVAILABLE, seen.INVALID);
  for (const code of seen.codes) assert.equal(code, seen.UNAVAILABLE, 'every call fails alike');
  assert.equal(seen.last.code, seen.UNAVAILABLE);
  assert.equal(seen.last.name, 'HBSYS_BACKEND_UNAVAILABLE');
  assert.match(seen.last.message, mentions);
  assert.doesNotMatch(
    seen.desc,
    /invalid argument/i,
    'the description does not blame the arguments',
  );
  assert.match(seen.desc, /could not be loaded/);
  assert.equal(seen.thrown.name, 'HbSysError');
  assert.equal(seen.thrown.code, seen.UNAVAILABLE);
  assert.match(seen.thrown.message, mentions);
  const said = stderr.split('\n').filter((l) => /backend is unavailable/.test(l));
  assert.equal(said.length, 1, `stderr says it once:\n${stderr}`);
  assert.match(stderr, mentions);
}

describe('a native backend that cannot load', () => {
  test('a missing library: the path tried, once on stderr; no retry per call', async () => {
    const missing = join(dir, 'missing', 'libdnn.so');
    mkdirSync(join(dir, 'missing'));
    const { seen, stderr } = await run({ HBSYS_LIBDNN: missing, PUT_LIBRARY: standinPath() });
    assertUnavailable(seen, stderr, new RegExp(`${missing.replace(/[.]/g, '\\.')}: no such file`));
    assert.equal(seen.explicit, 0, 'useBackend tries again, and then it loads');
  });

  test('a library that is not libdnn', async () => {
    const { seen, stderr } = await run({ HBSYS_LIBDNN: notLibdnnPath() });
    assertUnavailable(seen, stderr, /not the BPU runtime/);
  });

  test('a FIFO is refused without opening it', async () => {
    const fifo = join(dir, 'libdnn-fifo.so');
    execFileSync('mkfifo', [fifo]);
    const { seen, stderr } = await run({ HBSYS_LIBDNN: fifo });
    assertUnavailable(seen, stderr, /FIFO \(named pipe\), not a shared library file: not opened/);
  });

  test('a directory is refused', async () => {
    const { seen, stderr } = await run({ HBSYS_LIBDNN: dir });
    assertUnavailable(seen, stderr, /a directory, not a shared library file/);
  });

  test('HBSYS_BACKEND naming no backend', async () => {
    const { seen, stderr } = await run({ HBSYS_BACKEND: 'nativ' });
    assertUnavailable(seen, stderr, /HBSYS_BACKEND must be 'emulator' or 'native', got 'nativ'/);
  });
});
