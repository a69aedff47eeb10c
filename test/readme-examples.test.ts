/**
 * The README's TypeScript examples run as written: each ```ts block is compiled with
 * TypeScript and run against this package in its own process, under the sanitizer in throw
 * mode, so an example with a cache-maintenance mistake fails here.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { identityModel, writeModel } from './dnn/models.js';
import { nodeCommand } from './helpers.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = join(root, 'dist/src/index.js');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the README has TypeScript examples', () => {
  assert.ok(blocks.length >= 2, `found ${blocks.length}`);
});

for (const [i, source] of blocks.entries()) {
  const title = source
    .split('\n')
    .find((l) => l.trim() !== '' && !l.startsWith('import'))
    ?.trim();
  test(`README example ${i + 1} runs (${title})`, async () => {
    const program = source.replaceAll("from 'hbsys'", `from ${JSON.stringify(entry)}`);
    const js = ts.transpileModule(program, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    const dir = mkdtempSync(join(tmpdir(), 'hbsys-readme-'));
    const file = join(dir, `example-${i + 1}.mjs`);
    writeFileSync(file, js);
    // The model examples load model.bin: the emulator reads the model.onnx beside it.
    if (source.includes('hbDNNInitializeFromFiles')) {
      const config =
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n';
      writeModel(dir, 'model', identityModel([1, 3, 4, 4]), config);
    }
    const { stderr } = await run(...nodeCommand([file]), {
      cwd: dir,
      timeout: 60_000,
      env: { ...process.env, HBSYS_SANITIZE: 'throw', HB_DNN_SIM_BPU_MEM_SIZE: '16' },
    });
    assert.doesNotMatch(stderr, /finding/, 'the sanitizer found something');
  });
}
