/** `hbsys --version`, and `hbsys bench` listed where the benchmark suite is built. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { hbsys } from '../cli-helpers.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
) as { version: string };

test('--version and -v print the version of package.json', async () => {
  for (const flag of ['--version', '-v']) {
    const r = await hbsys([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('in a clone, after the build, the help lists bench', async () => {
  const r = await hbsys(['--help']);
  assert.match(r.stdout, /\n {2}bench \[options\]/);
});
