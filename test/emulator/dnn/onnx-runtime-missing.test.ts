/**
 * Without the optional onnxruntime-web, the model functions fail with a code and a message
 * that names the install command, and the rest of hbsys works. The package is made absent
 * for real: a copy of the compiled sources beside node_modules that lack it.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { affineModel, modelDir, writeModel } from '../../dnn/models.js';
import { nodeCommand } from '../../helpers.js';

test('no onnxruntime-web: hbDNNInitializeFromFiles says to install it; hbSys works', async () => {
  const root = modelDir();
  const file = writeModel(root, 'affine', affineModel([1, 4]));
  const src = fileURLToPath(new URL('../../../src', import.meta.url));
  const repo = fileURLToPath(new URL('../../../../', import.meta.url));
  cpSync(src, join(root, 'pkg', 'src'), { recursive: true });
  writeFileSync(join(root, 'pkg', 'package.json'), '{ "type": "module" }');
  mkdirSync(join(root, 'pkg', 'node_modules'));
  for (const name of readdirSync(join(repo, 'node_modules'))) {
    if (name === 'onnxruntime-web' || name.startsWith('.')) continue;
    symlinkSync(join(repo, 'node_modules', name), join(root, 'pkg', 'node_modules', name));
  }
  const script = join(root, 'pkg', 'run.mjs');
  writeFileSync(
    script,
    `import * as h from './src/index.js';
const packed = {};
const code = h.hbDNNInitializeFromFiles(packed, [${JSON.stringify(file)}], 1);
const mem = {};
const alloc = h.hbSysAllocMem(mem, 4096);
console.log(JSON.stringify({ code, message: h.hbDNNGetLastError()?.message, packed: 'value' in packed, alloc, version: h.hbDNNGetVersion() }));
`,
  );
  const [cmd, args] = nodeCommand([script]);
  const { stdout } = await promisify(execFile)(cmd, args, { timeout: 30_000 });
  const r = JSON.parse(stdout);
  assert.equal(r.code, -6000015, 'HB_DNN_API_USE_ERROR');
  assert.match(r.message, /onnxruntime-web is not installed: run `npm install onnxruntime-web`/);
  assert.equal(r.packed, false, 'no change');
  assert.equal(r.alloc, 0, 'the rest of hbsys works');
  assert.match(r.version, /^1\.18\.6/);
});
