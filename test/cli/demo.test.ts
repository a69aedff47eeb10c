/**
 * `hbsys demo`, run as a user runs it: the camera -> text detector pipeline, its report, its
 * errors, and the CLI's other commands over it. In a file of its own, apart from the rest of
 * the CLI's tests, because each run loads the real model: test files run side by side.
 */

import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, hbsys, runBin, tempDir } from '../cli-helpers.js';

describe('demo', () => {
  // Small frames keep the model fast; the text is still large enough to be found.
  const resized = ['--frames', '2', '--width', '320', '--height', '256', '--tensor', '160x128'];
  const direct = ['--frames', '2', '--width', '192', '--height', '128', '--tensor', '192x128'];

  test('camera -> hbDNNResize -> hbDNNInfer -> INVALIDATE -> text boxes, checked against onnxruntime-web; --out', async () => {
    const out = join(tempDir('demo'), 'report');
    const r = await hbsys(['demo', ...resized, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.frames, 2);
    assert.equal(result.resized, true);
    assert.equal(result.model.name, 'ppocr_det');
    assert.match(result.model.source, /@gutenye\/ocr-models\/assets\/ch_PP-OCRv4_det_infer\.onnx$/);
    assert.match(result.model.config, /input_type_rt: 'nv12'/);
    assert.match(result.model.config, /input_shape: '1x3x128x160'/);
    assert.equal(result.framesVerified, 2);
    assert.equal(result.verified, true);
    assert.ok(result.maxAbsDiff <= result.tolerance, String(result.maxAbsDiff));
    assert.equal(result.lastFrame.sameBoxes, true);
    assert.equal(result.lastFrame.resizeExact, true);
    // The detector finds the three lines of text the camera drew, in each frame.
    assert.deepEqual(result.textLines, { drawn: 6, found: 6 });
    assert.equal(result.lastFrame.boxes.length, 3);
    assert.equal(result.findings, 0);
    assert.equal(result.stats.allocationCount, 0, 'the demo frees what it allocates');
    assert.equal(result.stats.registrationCount, 0);
    assert.equal(result.stats.registrations, 2, 'each frame registered once');
    // Per frame: resize (CLEAN the frame, INVALIDATE its output), infer (CLEAN, INVALIDATE).
    assert.equal(result.stats.cleans, 4);
    assert.equal(result.stats.invalidates, 4);
    assert.ok(result.stats.bpuJobs >= 5, 'the model load, then a resize and an infer per frame');
    assert.equal(result.bytes.camera, 2 * 320 * 256 * 1.5);
    assert.ok(result.framesPerSecond > 0);
    assert.ok(result.firstFrameMs > 0);
    for (const stage of ['camera', 'register', 'resize', 'infer', 'postProcess', 'verify']) {
      assert.equal(typeof result.stages[stage], 'number', stage);
    }
    assert.equal(r.stderr.includes('['), false, 'no progress bar when stderr is not a terminal');
    for (const f of ['stats.json', 'dump.json', 'trace.json', 'map.svg', 'ppocr_det.yaml'])
      assert.ok(existsSync(join(out, f)), f);
    assert.match(readFileSync(join(out, 'ppocr_det.yaml'), 'utf8'), /norm_type/);
    const dump = JSON.parse(readFileSync(join(out, 'dump.json'), 'utf8'));
    const labels = dump.regions[0].blocks
      .map((b: { label: string | null }) => b.label)
      .filter(Boolean);
    assert.deepEqual(labels.sort(), ['model input (NV12)', 'model output (text probability)']);
    assert.equal(
      dump.regions[1].blocks.filter((b: { kind: string }) => b.kind === 'vio').length,
      3,
      'a ring of 3 camera buffers',
    );
    const trace = JSON.parse(readFileSync(join(out, 'trace.json'), 'utf8'));
    const names = trace.traceEvents
      .filter((e: { ph: string }) => e.ph === 'X')
      .map((e: { name: string }) => e.name);
    assert.equal(names.filter((n: string) => n === 'INVALIDATE').length, 4);
    const registrations = trace.traceEvents.filter(
      (e: { ph: string; cat?: string }) => e.ph === 'X' && e.cat === 'registration',
    );
    assert.equal(registrations.length, 2);
    assert.ok(names.includes('model output (text probability)'));
    const svg = readFileSync(join(out, 'map.svg'), 'utf8');
    assert.equal(
      (svg.match(/<g class="block"/g) ?? []).length,
      dump.regions[0].blocks.length + dump.regions[1].blocks.length,
    );
  });

  test('the camera frame straight into the NV12 model (no resize): a summary with the figures', async () => {
    const r = await hbsys(['demo', ...direct]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /camera 192x128 NV12 -> register -> hbDNNInfer ppocr_det/);
    assert.doesNotMatch(r.stdout, /hbDNNResize/);
    assert.match(r.stdout, /frames\/s\s+\d+(\.\d)?/);
    assert.match(r.stdout, /first frame\s+[\d.]+ ms/);
    assert.match(
      r.stdout,
      /per frame\s+camera [\d.]+ ms, register [\d.]+ ms, infer [\d.]+ ms, post-process [\d.]+ ms, check [\d.]+ ms/,
    );
    assert.match(r.stdout, /text lines\s+6\/6 found/);
    assert.match(r.stdout, /last frame\s+3 box\(es\): \d+x\d+ at \(\d+, \d+\) p=0\.\d\d/);
    assert.match(r.stdout, /verified\s+2\/2 frames match onnxruntime-web run directly/);
    assert.match(r.stdout, /findings\s+0/);
    // The registered frame is the model's input: one CLEAN and one INVALIDATE a frame.
    assert.match(r.stdout, /flushes\s+2 CLEAN \([\d.]+ KiB\), 2 INVALIDATE/);
  });

  test('an --out that cannot be written: exit 4 and why, before the demo runs', async () => {
    const file = join(tempDir('demo-out'), 'a-file');
    writeFileSync(file, '');
    const r = await hbsys(['demo', ...direct, '--out', join(file, 'inside')]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /hbsys: cannot write --out .*a-file\/inside: /);
    assert.equal(r.stdout, '');
  });

  test('sizes the pipeline cannot take: exit 2 and why', async () => {
    const a = await hbsys(['demo', '--tensor', '100x100']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /multiple of 32/);
    const b = await hbsys(['demo', '--width', '200', '--height', '128', '--tensor', '160x128']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--width 200: hbDNNResize .* multiple of 16 wide/);
  });

  test('stats and dump of the demo', async () => {
    const s = await hbsys(['stats', '--json', ...direct]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(JSON.parse(s.stdout).registrations, 2);
    const d = await hbsys(['dump', ...direct]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(
      JSON.parse(d.stdout).stats.allocationCount,
      1,
      'the dump is taken before the demo frees its output tensor',
    );
  });

  test('an installed hbsys without the model package: exit 4, naming the install command', async () => {
    // A copy of the package as npm installs it (its files, not links: Node resolves a linked
    // module from where it really is), with every dependency but the model package.
    const root = tempDir('installed');
    const here = join(BIN, '..', '..');
    for (const entry of ['bin', 'dist', 'package.json']) {
      cpSync(join(here, entry), join(root, entry), { recursive: true });
    }
    mkdirSync(join(root, 'node_modules'));
    for (const dep of readdirSync(join(here, 'node_modules'))) {
      if (dep === '@gutenye' || dep.startsWith('.')) continue;
      symlinkSync(join(here, 'node_modules', dep), join(root, 'node_modules', dep));
    }
    const r = await runBin(join(root, 'bin', 'hbsys.js'), ['demo', ...direct]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /PP-OCRv4 text detector/);
    assert.match(r.stderr, /run `npm install @gutenye\/ocr-models`/);
  });
});
