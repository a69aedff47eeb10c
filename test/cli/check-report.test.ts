/**
 * The report of `hbsys check`: one report, hex written one way, JSON alone on stdout with
 * `--json`, stacks mapped to the program's sources, `--trace`, and `--fail-on` over
 * severities (a finding without one is an error).
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { failingFindings, findingsText } from '../../src/cli/report.js';
import type { FindingJson } from '../../src/index.js';
import { hbsys, tempDir } from '../cli-helpers.js';

/**
 * A program written in TypeScript and compiled with an inline source map, as a user's build
 * makes one: it prints to stdout, leaks a labelled buffer and skips a CLEAN.
 */
const SOURCE = `import { allocate, emulator } from 'hbsys';

console.log('program output');
const input = allocate(4096, { cached: true, label: 'never cleaned' });
const output = allocate(4096, { label: 'leaked output' });
input.write(new Uint8Array(4096).fill(3));
await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
input.free();
`;

function compiled(dir: string): string {
  const out = ts.transpileModule(SOURCE, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      inlineSourceMap: true,
      inlineSources: true,
    },
    fileName: join(dir, 'pipeline.ts'),
  });
  const file = join(dir, 'pipeline.mjs');
  writeFileSync(file, out.outputText);
  return file;
}

describe('hbsys check: the report', () => {
  const dir = tempDir('check-report');
  const program = compiled(dir);

  test('--json: only JSON on stdout, the program on stderr, stacks at its .ts lines, --trace', async () => {
    const trace = join(dir, 'trace.json');
    const r = await hbsys(['check', '--json', '--trace', trace, program]);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout); // nothing else on stdout
    assert.match(r.stderr, /program output/);
    assert.doesNotMatch(r.stderr, /hbsys sanitizer:/, 'the program prints no report of its own');
    const { findings, failOn, failing } = report;
    assert.equal(failOn, 'error');
    assert.equal(failing, findings.length, 'findings without a severity are errors');
    const kinds = findings.map((f: FindingJson) => f.kind).sort();
    assert.deepEqual(kinds, ['device-read-dirty', 'leak']);
    for (const f of findings) assert.match(f.phyAddr, /^0x[0-9a-f]{8,}$/);
    const leak = findings.find((f: FindingJson) => f.kind === 'leak');
    assert.equal(leak.label, 'leaked output');
    // Source maps on: the stack names the TypeScript file and line that allocated.
    assert.match(leak.allocStack, /pipeline\.ts:5:\d+/);
    const dirty = findings.find((f: FindingJson) => f.kind === 'device-read-dirty');
    assert.match(dirty.stack, /pipeline\.ts:7:\d+/);
    // The trace of the run: its allocations, by label, on the process clock.
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents;
    const names = events
      .filter((e: { ph: string }) => e.ph === 'X')
      .map((e: { name: string }) => e.name);
    assert.ok(names.includes('never cleaned') && names.includes('leaked output'), names.join());
    assert.ok(names.includes('bpu.copy'), 'the BPU job');
  });

  test('text: one report, each address one way, with severity and stacks', async () => {
    const r = await hbsys(['check', program]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^program output\n/, "the program's stdout stays on stdout");
    assert.doesNotMatch(r.stderr, /hbsys sanitizer:|finding/);
    assert.equal(r.stdout.match(/hbsys check: 2 finding\(s\)/g)?.length, 1);
    for (const hex of r.stdout.match(/0x[0-9a-fA-F]+/g) ?? []) {
      assert.match(hex, /^0x[0-9a-f]{8,}$/, `${hex}: 0x and 8 lowercase digits`);
    }
    assert.match(r.stdout, /severity: error/);
    assert.match(r.stdout, /allocated at:\n\s+.*pipeline\.ts:5:\d+/);
    assert.match(r.stdout, /summary: 2 error\(s\), 0 warning\(s\); the check fails on 2 of them/);
  });
});

describe('--fail-on', () => {
  const findings: FindingJson[] = [
    { kind: 'redundant-flush', message: 'uncached', severity: 'warning', phyAddr: '0x04000000' },
    { kind: 'leak', message: 'kept', phyAddr: '0x04001000' },
  ];

  test('errors fail by default; warnings only with --fail-on warning', () => {
    assert.deepEqual(
      failingFindings(findings, 'error').map((f) => f.kind),
      ['leak'],
    );
    assert.equal(failingFindings(findings, 'warning').length, 2);
    assert.equal(failingFindings([findings[0]!], 'error').length, 0);
  });

  test('the report says what fails', () => {
    const warningOnly = findingsText([findings[0]!]);
    assert.match(warningOnly, /severity: warning/);
    assert.match(
      warningOnly,
      /0 error\(s\), 1 warning\(s\); the check passes \(it fails on errors\)/,
    );
    assert.match(findingsText(findings, 'warning'), /fails on 2 of them \(--fail-on warning\)/);
  });
});
