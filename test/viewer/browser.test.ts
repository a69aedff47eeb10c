/**
 * The memory-map page in a real browser (Debian's chromium through playwright-core): it
 * loads while the demo runs, draws the demo's blocks in the right count and colours,
 * updates live, shows details on hover, and is saved as a screenshot under the test's
 * temporary directory.
 */

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { MAP_COLOURS } from '../../src/observe/map-svg.js';
import { serve, stop, tempDir } from '../cli-helpers.js';

/** Debian's chromium, or any Chromium or Chrome named by HBSYS_CHROMIUM (macOS, Ubuntu's snap). */
const CHROMIUM = process.env.HBSYS_CHROMIUM || '/usr/bin/chromium';

/** '#2563eb' as the browser reports a computed colour: 'rgb(37, 99, 235)'. */
function rgb(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 0xff}, ${n & 0xff})`;
}

test('the live memory map while the demo runs', async (t) => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: bash scripts/ensure-chromium.sh says what to install (npm test runs it)`,
  );
  const dir = tempDir('browser');
  // Many frames with a pause between them: the demo is still running while the page is used.
  const { url, child } = await serve([
    '--frames',
    '100000',
    '--delay',
    '20',
    '--width',
    '64',
    '--height',
    '64',
    '--tensor',
    '64x64',
  ]);
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    viewport: { width: 1100, height: 900 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(
      "/demo: frame \\d+ of 100000/.test(document.getElementById('status').textContent)",
    );

    // Live: the BPU job count the page shows goes up without a reload.
    const jobs = Number(await page.evaluate('document.body.dataset.bpuJobs'));
    await page.waitForFunction(`Number(document.body.dataset.bpuJobs) > ${jobs}`);

    // The demo holds, in the ION heap: the model's cached output tensor (the registered
    // camera frame is its input), then free space; in the VIO region: a ring of 3 camera buffers (one of which
    // may be registered at the moment) and free space. (Page code as strings: the tests
    // compile without the DOM library.)
    const kinds = (await page.evaluate(`[...document.querySelectorAll('#map g.region')].map((r) => [
      r.dataset.region,
      [...r.querySelectorAll('g.block')].map((g) => g.dataset.kind),
    ])`)) as [string, string[]][];
    assert.equal(kinds.length, 2);
    assert.deepEqual(kinds[0], ['ion', ['cached', 'free']]);
    const [vioName, vioKinds] = kinds[1]!;
    assert.equal(vioName, 'vio');
    assert.equal(vioKinds.length, 4);
    assert.equal(vioKinds[3], 'free');
    assert.ok(
      vioKinds.slice(0, 3).every((k) => k === 'vio' || k === 'registered'),
      vioKinds.join(),
    );
    assert.ok(vioKinds.filter((k) => k === 'registered').length <= 1);

    // Every rectangle is painted in its kind's colour.
    const fills =
      (await page.evaluate(`[...document.querySelectorAll('#map g.block rect')].map((r) => [
      r.parentNode.dataset.kind,
      getComputedStyle(r).fill,
    ])`)) as [string, string][];
    assert.ok(fills.length >= 6);
    for (const [kind, fill] of fills)
      assert.equal(fill, rgb(MAP_COLOURS[kind as keyof typeof MAP_COLOURS]), kind);

    // Hover the output tensor: the tooltip gives its address, size and label.
    const input = page.locator('#map g.block[data-label="model output (text probability)"]');
    const addr = await input.getAttribute('data-addr');
    assert.match(addr ?? '', /^0x[0-9a-f]{8}$/);
    await input.hover();
    const tooltip = page.locator('#tooltip');
    await tooltip.waitFor({ state: 'visible' });
    const tip = (await tooltip.textContent()) ?? '';
    assert.ok(tip.includes(addr!), tip);
    assert.ok(tip.includes('model output (text probability)'), tip);
    assert.match(tip, /\(16384 bytes\)/);

    // The statistics and findings panels are filled.
    assert.equal(await page.locator('[data-stat="allocationCount"]').textContent(), '1');
    assert.equal(await page.locator('#findings').textContent(), 'no findings');

    const shot = join(dir, 'memory-map.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await stop(child);
  }
});
