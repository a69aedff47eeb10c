/**
 * Scripts never outlive hbsys, `--timeout` for CI, and the CLI's edge cases (a served
 * script, empty and unwritable outputs): check, stats, dump and serve forward SIGINT and
 * SIGTERM to the script and end it; past `--timeout` the script is ended and hbsys exits
 * with 3.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hbsys, script, tempDir } from '../cli-helpers.js';

const dir = tempDir('lifetime');

/** A script that writes its pid where its first argument says, then runs until ended. */
const FOREVER = script(
  dir,
  'forever.mjs',
  `import { writeFileSync } from 'node:fs';
   import { allocate } from 'hbsys';
   allocate(4096, { label: 'held' });
   writeFileSync(process.argv[2], String(process.pid));
   setInterval(() => {}, 1000);`,
);

/**
 * The --timeout the tests give, and how long they wait: long enough for Node to start and
 * run a script, which takes seconds under qemu (the arm64 run sets HBSYS_TEST_NODE).
 */
const SLOW = (process.env.HBSYS_TEST_NODE ?? '') !== '';
const TIMEOUT = SLOW ? 30 : 2;
/**
 * The --timeout of each attempt: a loaded machine may take longer than TIMEOUT to start the
 * script (the script then ends before it wrote its pid, or a quick one does not finish), and
 * the attempt proves nothing; the next gives more time.
 */
const ATTEMPTS = [TIMEOUT, TIMEOUT * 5];
const PATIENCE = SLOW ? 10 : 1;
/**
 * How long past --timeout hbsys may take to start, end the script and exit: under qemu
 * several Node processes start side by side on two cores, which takes tens of seconds.
 */
const SLACK = SLOW ? 75 : 15;

let pids = 0;
const pidFile = () => join(dir, `pid-${++pids}`);

/** Resolves once `file` holds a pid. */
async function pidIn(file: string): Promise<number> {
  for (let i = 0; i < 400 * PATIENCE; i++) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      if (text !== '') return Number(text);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no pid in ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asserts that `pid` is gone (within a second: an exit is not instant). */
async function assertGone(pid: number): Promise<void> {
  for (let i = 0; i < 40 * PATIENCE && alive(pid); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    assert.fail(`the script (pid ${pid}) outlived hbsys`);
  }
}

/** Runs hbsys, sends `signal` once the script has started, and returns the result. */
async function signalled(args: (pid: string) => string[], signal: NodeJS.Signals) {
  const file = pidFile();
  let child: ChildProcess | undefined;
  const done = hbsys(args(file), {}, { timeoutMs: 60_000, onStart: (c) => (child = c) });
  const pid = await pidIn(file);
  child!.kill(signal);
  const r = await done;
  return { r, pid };
}

describe('SIGINT and SIGTERM end the script with hbsys', { concurrency: true }, () => {
  for (const [command, signal, code] of [
    ['check', 'SIGTERM', 143],
    ['check', 'SIGINT', 130],
    ['stats', 'SIGTERM', 143],
    ['dump', 'SIGINT', 130],
    ['serve', 'SIGTERM', 143],
  ] as const) {
    test(`${command}: ${signal} to hbsys ends the script; exit ${code}`, async () => {
      const extra = command === 'serve' ? ['--port', '0'] : [];
      const { r, pid } = await signalled((f) => [command, ...extra, FOREVER, f], signal);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, new RegExp(`interrupted by ${signal}`));
      await assertGone(pid);
    });
  }

  test('serve: SIGTERM after the script finished stops serving', async () => {
    const quick = script(dir, 'quick.mjs', `import 'hbsys';\nconsole.error('quick done');\n`);
    let child: ChildProcess | undefined;
    const done = hbsys(
      ['serve', '--port', '0', quick],
      {},
      {
        timeoutMs: 30_000 * PATIENCE,
        onStart: (c) => (child = c),
      },
    );
    // Until hbsys says it still serves, or ends without saying so (then the assertion below
    // shows why).
    let ended = false;
    void done.then(() => (ended = true));
    while (!ended && !/still serving/.test((await peekStderr(child!)) ?? '')) {
      await new Promise((r) => setTimeout(r, 25));
    }
    child!.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 143, r.stderr);
  });
});

/** What `child` wrote on stderr so far (collected beside the helper's own collection). */
const seen = new WeakMap<ChildProcess, string>();
function peekStderr(child: ChildProcess): Promise<string | undefined> {
  if (!seen.has(child)) {
    seen.set(child, '');
    child.stderr!.on('data', (d) => seen.set(child, seen.get(child)! + d));
  }
  return Promise.resolve(seen.get(child));
}

// Each case mostly waits (for a deadline, or a process): run them side by side.
describe('--timeout', { concurrency: true }, () => {
  for (const command of ['check', 'stats', 'dump', 'serve']) {
    test(`${command} --timeout ${TIMEOUT}: the script is ended, exit 3`, async () => {
      const extra = command === 'serve' ? ['--port', '0'] : [];
      for (const timeout of ATTEMPTS) {
        const file = pidFile();
        const started = Date.now();
        const r = await hbsys(
          [command, ...extra, '--timeout', String(timeout), FOREVER, file],
          {},
          { timeoutMs: (timeout + SLACK + 15) * 1000 },
        );
        assert.equal(r.code, 3, r.stderr);
        assert.ok(
          r.stderr.includes(`did not finish within ${timeout} s (--timeout); it was ended`),
        );
        assert.ok(Date.now() - started < (timeout + SLACK) * 1000);
        // Ended before it wrote its pid: it started too slowly to show that it is gone.
        if (!existsSync(file) && timeout !== ATTEMPTS.at(-1)) continue;
        await assertGone(await pidIn(file));
        return;
      }
    });
  }

  test('serve --timeout after a script that finished: serving stops, exit 0', async () => {
    const quick = script(dir, 'quick2.mjs', `import 'hbsys';\n`);
    for (const timeout of ATTEMPTS) {
      const r = await hbsys(
        ['serve', '--port', '0', '--timeout', String(timeout), quick],
        {},
        { timeoutMs: (timeout + SLACK + 15) * 1000 },
      );
      // The script did not finish within the timeout: it started too slowly to show anything.
      if (r.code === 3 && /did not finish within/.test(r.stderr) && timeout !== ATTEMPTS.at(-1)) {
        continue;
      }
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /still serving/);
      return;
    }
  });

  test('a script that finishes in time is not affected', async () => {
    const quick = script(dir, 'quick3.mjs', `import 'hbsys';\n`);
    const r = await hbsys(['check', '--timeout', '30', quick]);
    assert.equal(r.code, 0, r.stderr);
  });

  for (const bad of ['0', '-1', 'soon', '']) {
    test(`--timeout '${bad}': usage error`, async () => {
      const r = await hbsys(['check', '--timeout', bad, FOREVER]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--timeout/);
    });
  }
});

describe('CLI edge cases', () => {
  test('check <directory>: exit 2, "is a directory"', async () => {
    const r = await hbsys(['check', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is a directory, not a script/);
  });

  for (const args of [
    ['dump', '--out', ''],
    ['dump', '--svg', ''],
    ['demo', '--out', ''],
  ]) {
    test(`${args.join(' ')}'': exit 2, nothing written to stdout`, async () => {
      const r = await hbsys(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /expected a path, got an empty string/);
    });
  }

  test('demo --out under /proc: exit 4 at once, no spinning', async () => {
    const started = Date.now();
    const small = ['--frames', '1', '--width', '64', '--height', '64', '--tensor', '64x64'];
    const r = await hbsys(
      ['demo', ...small, '--out', '/proc/hbsys-test/out'],
      {},
      {
        timeoutMs: 20_000,
      },
    );
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot write --out \/proc\/hbsys-test\/out/);
    assert.ok(Date.now() - started < 15_000);
  });
});
