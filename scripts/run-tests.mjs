#!/usr/bin/env node
// Runs every compiled test file (build/**/*.test.js) with node's test runner, with source
// maps on, so that a failure points at the line of the .ts file. The files are listed
// explicitly: Node 20 runs every .js file of a directory named test when given the
// directory, and Node 22 and later no longer accept a directory at all.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = 'build/test';
let files = [];
try {
  files = readdirSync(root, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => join(root, f))
    .sort();
} catch {}
if (files.length === 0) {
  console.error(`no test files under ${root}: run npm run build first`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', ...process.argv.slice(2), ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
