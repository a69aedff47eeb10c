#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner. The files are
// listed explicitly: Node 20 runs every .js file of a directory named test when given the
// directory, and Node 22 and later no longer accept a directory at all.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = 'dist/test';
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => join(root, f))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${root}: run the build first`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
