/**
 * The package as a user meets it: `npm pack`, then a fresh project installs the tarball and
 * uses it with `import` and `require`, type-checked by strict TypeScript (the type test in
 * test/types, compiled against the installed .d.ts), and its `hbsys` command. publint and
 * arethetypeswrong lint the tarball.
 *
 * Offline: the project gets hbsys from the tarball and hbsys's dependencies (commander,
 * koffi) copied from this repository's node_modules, so npm fetches nothing; publint and
 * arethetypeswrong read the tarball alone.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { nodeCommand } from '../helpers.js';
import { outcome, root, runTool } from './tools.js';

const exec = promisify(execFile);
const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

/** Copies `name` and its (optional) dependencies from this repository's node_modules. */
function seed(name: string, into: string, seen = new Set<string>()): void {
  const from = join(root, 'node_modules', name);
  if (seen.has(name) || !existsSync(from)) return;
  seen.add(name);
  cpSync(from, join(into, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
  const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    seed(dep, into, seen);
  }
}

let work: string;
let tarball: string;
let packed: string[];
let project: string;
let installed: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hbsys-package-'));
  const { stdout } = await exec(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
    { cwd: root, timeout: 120_000 },
  );
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  packed = info!.files.map((f) => f.path);

  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
  for (const dep of Object.keys(own.dependencies)) seed(dep, project);
  await exec(
    'npm',
    [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--no-package-lock',
      // The optional ONNX runtime (139 MB) is left out: the consumer is an install without it.
      '--omit=optional',
      tarball,
    ],
    { cwd: project, timeout: 120_000 },
  );
  installed = join(project, 'node_modules', 'hbsys');
  // What a TypeScript project has: the compiler and Node's types (linked, not installed).
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
  const nodeTypes = join(project, 'node_modules/@types/node');
  if (!existsSync(nodeTypes)) symlinkSync(join(root, 'node_modules/@types/node'), nodeTypes);
});

after(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the package', { concurrency: true }, () => {
  test('holds the build of src/, its sources, the CLI and the docs it names, nothing else', () => {
    const allowed = /^(dist|src|bin|docs)\/|^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/;
    assert.deepEqual(
      packed.filter((f) => !allowed.test(f)),
      [],
    );
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'bin/hbsys.js', 'docs/dump-schema.md']) {
      assert.ok(packed.includes(f), `${f} is in the package`);
    }
    assert.deepEqual(
      packed.filter((f) => /(^|\/)(test|bench|build)\/|\.test\.|\.tsbuildinfo$/.test(f)),
      [],
    );
  });

  test('every source map points at files the package ships', () => {
    const maps = packed.filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0, 'the package has source maps');
    const dead: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, map), 'utf8'));
      for (const source of sources as string[]) {
        const path = resolve(installed, dirname(map), source);
        if (!existsSync(path)) dead.push(`${map} -> ${source}`);
      }
    }
    assert.deepEqual(dead, []);
  });

  test('publint finds nothing, warnings included', async () => {
    const r = await outcome(runTool('publint/src/cli.js', ['run', tarball, '--strict']));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /All good/);
  });

  test('arethetypeswrong: types resolve for import and require', async () => {
    // `cjs-resolves-to-esm` says that require() of an ES module fails on the Node versions
    // before require(esm); engines excludes those, and the tests below require it.
    const r = await outcome(
      runTool('@arethetypeswrong/cli/dist/index.js', [
        tarball,
        '--no-definitely-typed',
        '--ignore-rules',
        'cjs-resolves-to-esm',
        '--format',
        'ascii',
        '--no-color',
      ]),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /No problems found/);
  });

  test('import and require give one module, and it works', async () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { createRequire } from 'node:module';
import * as hbsys from 'hbsys';
const required = createRequire(import.meta.url)('hbsys');
const input = hbsys.allocate(4096, { cached: true });
const output = hbsys.allocate(4096, { cached: true });
input.write(new Uint8Array(4096).fill(7)).clean();
await hbsys.emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
const byte = output.invalidate().view(Uint8Array)[4095];
input.free();
output.free();
console.log(JSON.stringify({ same: required === hbsys, byte, backend: hbsys.backendName() }));
`,
    );
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const hbsys = require('hbsys');
const mem = {};
const alloc = hbsys.hbSysAllocCachedMem(mem, 64);
const flush = hbsys.hbSysFlushMem(mem, 3);
const message = hbsys.hbSysGetLastError().message;
const free = hbsys.hbSysFreeMem(mem);
import('hbsys').then((esm) => {
  console.log(JSON.stringify({ alloc, flush, message, free, same: esm === hbsys }));
});
`,
    );
    const esm = JSON.parse((await exec(...nodeCommand(['esm.mjs']), { cwd: project })).stdout);
    assert.deepEqual(esm, { same: true, byte: 7, backend: 'emulator' });
    const cjs = JSON.parse((await exec(...nodeCommand(['cjs.cjs']), { cwd: project })).stdout);
    assert.equal(cjs.alloc, 0);
    assert.equal(cjs.flush, -6000129);
    assert.match(cjs.message, /flag must be HB_SYS_MEM_CACHE_CLEAN/);
    assert.equal(cjs.free, 0);
    assert.equal(cjs.same, true);
  });

  test('strict TypeScript compiles the type test against the installed types', async () => {
    const types = join(project, 'types');
    mkdirSync(types);
    for (const f of readdirSync(join(root, 'test/types'))) {
      cpSync(join(root, 'test/types', f), join(types, f));
    }
    // .ts files as ES modules (import), .cts as CommonJS (require).
    writeFileSync(join(types, 'package.json'), '{ "type": "module" }\n');
    const r = await outcome(runTool('typescript/bin/tsc', ['-p', types], project));
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('hbsys: --version, the docs it names, no bench', async () => {
    const bin = join(installed, 'bin/hbsys.js');
    const version = await exec(...nodeCommand([bin, '--version']), { cwd: project });
    assert.equal(version.stdout, `${own.version}\n`);
    const help = await exec(...nodeCommand([bin, '--help']), { cwd: project });
    assert.doesNotMatch(help.stdout, /bench/);
    const dump = await exec(...nodeCommand([bin, 'dump', '--help']), { cwd: project });
    assert.match(dump.stdout, /docs\/dump-schema\.md/);
    assert.ok(existsSync(join(installed, 'docs/dump-schema.md')));
    const bench = await outcome(exec(...nodeCommand([bin, 'bench']), { cwd: project }));
    assert.equal(bench.code, 2);
    assert.match(bench.stderr, /ships with the repository, not the npm package/);
  });
});
