/**
 * The findings log: one finding per kind and place with a count, severities, the
 * onFinding hook, findings as machine events, and counters that stats() reads without
 * rescanning the log.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { MachineEvent } from '../../src/emulator/events.js';
import { FindingsLog } from '../../src/emulator/findings.js';
import { currentMachine } from '../../src/emulator/index.js';
import { FINDING_KINDS, type Finding, severityOf } from '../../src/emulator/sanitizer.js';
import {
  emulator,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_SUCCESS,
  hbSysFlushMem,
  hbSysFreeMem,
} from '../../src/index.js';
import { nodeCommand } from '../helpers.js';
import { mem, sanitized } from './programs.js';

const run = promisify(execFile);

function finding(
  kind: (typeof FINDING_KINDS)[number],
  phyAddr: bigint,
): Finding & { count: number } {
  return {
    kind,
    severity: severityOf(kind),
    count: 1,
    message: 'm',
    phyAddr,
    size: 1,
    where: 'w',
    time: 0,
  };
}

describe('FindingsLog (property)', () => {
  test('distinct keys, counts, per-kind and per-severity totals agree with a plain model', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: FINDING_KINDS.length - 1 }), fc.nat(20)), {
          maxLength: 300,
        }),
        fc.nat(300),
        (adds, clearAt) => {
          const log = new FindingsLog();
          const model = new Map<string, { kind: string; count: number }>();
          for (const [i, [k, site]] of adds.entries()) {
            if (i === clearAt) {
              log.clear();
              model.clear();
            }
            const kind = FINDING_KINDS[k]!;
            const key = `${kind}/${site}`;
            const given = finding(kind, BigInt(site));
            assert.equal(log.add(key, given) === given, !model.has(key));
            const entry = model.get(key) ?? { kind, count: 0 };
            entry.count++;
            model.set(key, entry);
          }
          const list = log.list();
          assert.equal(log.size, model.size);
          assert.deepEqual(
            list.map((f) => f.count),
            [...model.values()].map((e) => e.count),
            'first-seen order, each with its count',
          );
          const byKind = log.byKind();
          for (const kind of FINDING_KINDS) {
            assert.equal(byKind[kind], [...model.values()].filter((e) => e.kind === kind).length);
          }
          const errors = [...model.values()].filter(
            (e) => severityOf(e.kind as Finding['kind']) === 'error',
          ).length;
          assert.equal(log.errors, errors);
          assert.equal(log.warnings, model.size - errors);
        },
      ),
    );
  });

  test('list() hands out copies: the log keeps counting its own', () => {
    const log = new FindingsLog();
    log.add('k', finding('leak', 1n));
    const [copy] = log.list();
    log.add('k', finding('leak', 1n));
    assert.equal(copy!.count, 1);
    assert.equal(log.list()[0]!.count, 2);
  });
});

describe('one finding per kind and place, with a count', () => {
  beforeEach(() => sanitized('report', true));

  test('a bug in a loop is one finding counted; two call sites are two findings', () => {
    const m = mem(64, false);
    for (let i = 0; i < 5; i++) hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN); // call site A
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN); // call site B
    hbSysFreeMem(m);
    const found = emulator.findings();
    assert.deepEqual(
      found.map((f) => [f.kind, f.count]),
      [
        ['redundant-flush', 5],
        ['redundant-flush', 1],
      ],
      emulator.report(),
    );
    assert.match(emulator.report(), /in hbSysFlushMem, 5 times/);
  });

  test('without stacks, the same call on the same range is counted', async () => {
    await sanitized('report', false);
    const m = mem(64, false);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFreeMem(m);
    assert.deepEqual(
      emulator.findings().map((f) => [f.kind, f.count]),
      [['redundant-flush', 2]],
    );
  });
});

describe('severity', () => {
  beforeEach(() => sanitized());

  test('waste is a warning, corruption an error; stats count both without rescanning', async () => {
    const m = mem(64, false);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFreeMem(m);
    hbSysFreeMem(m);
    const found = emulator.findings();
    assert.deepEqual(
      found.map((f) => [f.kind, f.severity]),
      [
        ['redundant-flush', 'warning'],
        ['double-free', 'error'],
      ],
    );
    const stats = emulator.stats();
    assert.deepEqual(stats.findingsBySeverity, { error: 1, warning: 1 });
    assert.equal(stats.findingsByKind['double-free'], 1);
    assert.match(emulator.report(), /1 error\(s\), 1 warning\(s\)/);
  });
});

describe('onFinding and the finding event', () => {
  beforeEach(() => sanitized());

  test('the hook sees each new finding once; its remover stops it', () => {
    const seen: string[] = [];
    const stop = emulator.onFinding((f) => seen.push(`${f.severity} ${f.kind}`));
    const m = mem(64, false);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN); // a repeat: counted, not passed again
    stop();
    hbSysFreeMem(m);
    hbSysFreeMem(m);
    assert.deepEqual(seen, ['warning redundant-flush']);
    assert.throws(() => emulator.onFinding(42 as never), /callback must be a function/);
  });

  test('a hook that throws does not fail the call that found the hazard', async () => {
    const stop = emulator.onFinding(() => {
      throw new Error('from the hook');
    });
    const m = mem(64, false);
    const uncaught = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (e) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(e);
      });
    });
    assert.equal(hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    stop();
    assert.match(String(await uncaught), /from the hook/);
    hbSysFreeMem(m);
  });

  test('observers of the machine get a finding event', () => {
    const events: MachineEvent[] = [];
    currentMachine().listeners.add((e) => events.push(e));
    const m = mem(64, false);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFreeMem(m);
    const f = events.find((e) => e.type === 'finding');
    assert.ok(f !== undefined && f.type === 'finding');
    assert.equal(f.kind, 'redundant-flush');
    assert.equal(f.severity, 'warning');
    assert.equal(f.phyAddr, Number(m.phyAddr));
    assert.equal(f.where, 'hbSysFlushMem');
  });
});

describe('under hbsys check, the program cannot silence the checker', () => {
  const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
  const program = `
    import { emulator, hbSysAllocMem, hbSysFlushMem } from ${JSON.stringify(entry)};
    const m = {};
    hbSysAllocMem(m, 64);
    hbSysFlushMem(m, 2);
    emulator.clearFindings();
    await emulator.reset({ sanitize: 'off' });
    const n = {};
    hbSysAllocMem(n, 64);
    hbSysFlushMem(n, 2);
    console.log(JSON.stringify({ mode: emulator.options().sanitize, n: emulator.findings().length }));
  `;

  async function runIt(env: Record<string, string>) {
    const dir = mkdtempSync(join(tmpdir(), 'hbsys-tamper-'));
    const file = join(dir, 'tamper.mjs');
    writeFileSync(file, program);
    const report = join(dir, 'report.json');
    const { stdout } = await run(...nodeCommand([file]), {
      env: { ...process.env, HB_DNN_SIM_BPU_MEM_SIZE: '16', ...env, HBSYS_REPORT_FILE: report },
      timeout: 60_000,
    });
    return { out: JSON.parse(stdout) as { mode: string; n: number }, report };
  }

  test('reset off and clearFindings are findings; the earlier findings stay', async () => {
    const { out, report } = await runIt({ HBSYS_SANITIZE: 'report' });
    assert.equal(out.mode, 'report');
    const kinds = (
      JSON.parse(readFileSync(report, 'utf8')) as { findings: { kind: string; where: string }[] }
    ).findings.map((f) => `${f.kind} ${f.where}`);
    for (const k of [
      'redundant-flush hbSysFlushMem',
      'sanitizer-tampered emulator.clearFindings',
      'sanitizer-tampered emulator.reset',
    ]) {
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
    }
  });

  test('outside check, the same program controls the sanitizer', async () => {
    const { out } = await runIt({ HBSYS_SANITIZE: 'off' });
    assert.equal(out.mode, 'off');
    assert.equal(out.n, 0);
  });
});
