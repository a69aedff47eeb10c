/**
 * `hbsys map dump.json`: a saved dump drawn again, of either format version and either
 * backend; a file that is not a dump is refused with what is wrong and what to give.
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { allocate, dumpHeap, emulator, register } from '../../src/index.js';
import { readDump } from '../../src/observe/dump-read.js';
import { mapRegions, renderMapSvg } from '../../src/observe/map-svg.js';
import { hbsys, tempDir } from '../cli-helpers.js';
import { smallMachine } from '../helpers.js';

const dir = tempDir('map');

/** A dump saved by an earlier run (here: this process), and the SVG it drew then. */
async function savedDump(): Promise<{ file: string; svg: string }> {
  await smallMachine();
  const a = allocate(10_000, { cached: true, label: 'tensor <in>' });
  const frame = emulator.vio.alloc(8192);
  const reg = register(frame.phyAddr, 4096, { label: 'frame' });
  const dump = dumpHeap();
  reg.free();
  a.free();
  emulator.vio.free(frame.phyAddr);
  const file = join(dir, 'dump.json');
  writeFileSync(file, JSON.stringify(dump, null, 2));
  return { file, svg: renderMapSvg(mapRegions(dump)) };
}

describe('hbsys map', () => {
  test('draws a saved dump: to stdout, and with --out to a file', async () => {
    const { file } = await savedDump();
    const r = await hbsys(['map', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(r.stdout, /data-label="tensor &#60;in&#62;"/);
    assert.match(r.stdout, /data-kind="registered"/);
    assert.match(r.stdout, /hbsys memory map: .*dump\.json/);
    assert.match(r.stdout, /emulator: 1 live allocation\(s\), 10000 bytes asked for/);
    const out = join(dir, 'map.svg');
    const w = await hbsys(['map', file, '--out', out]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), r.stdout);
  });

  test('a file that is not a dump: exit 2, what is wrong, what to give', async () => {
    const foreign = join(dir, 'package.json');
    writeFileSync(foreign, JSON.stringify({ name: 'not-a-dump' }));
    const r = await hbsys(['map', foreign]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /package\.json cannot be drawn: it is JSON but not an hbsys heap dump: .*Give a dump\.json written by hbsys dump --out/,
    );
  });
});

describe('reading a saved dump', () => {
  test('version 2 reads back to the same map', async () => {
    const { file, svg } = await savedDump();
    const read = readDump(readFileSync(file, 'utf8'));
    assert.ok(typeof read !== 'string', String(read));
    assert.equal(renderMapSvg(mapRegions(read)), svg);
  });

  test('version 1: size was the pages, requestedSize the bytes asked for', () => {
    const v1 = {
      format: 'hbsys-heap-dump',
      version: 1,
      regions: [
        {
          name: 'ion',
          base: '0x04000000',
          size: 8192,
          pageSize: 4096,
          blocks: [
            {
              kind: 'allocation',
              phyAddr: '0x04000000',
              size: 4096,
              requestedSize: 100,
              cached: true,
              label: 'old',
              registrations: [],
            },
            {
              kind: 'free',
              phyAddr: '0x04001000',
              size: 4096,
              requestedSize: null,
              cached: null,
              label: null,
              registrations: [],
            },
          ],
        },
      ],
    };
    const read = readDump(JSON.stringify(v1));
    assert.ok(typeof read !== 'string', String(read));
    assert.deepEqual(
      read.regions[0]!.blocks.map((b) => [b.blockBytes, b.size]),
      [
        [4096, 100],
        [4096, null],
      ],
    );
  });

  test('a native dump (no regions) is drawn as one bar of its mappings', () => {
    const native = {
      format: 'hbsys-heap-dump',
      version: 2,
      backend: 'native',
      regions: [],
      mappings: [
        {
          kind: 'allocation',
          phyAddr: '0x7f000000',
          size: 5000,
          blockBytes: null,
          cached: true,
          label: 'input',
          createdAtMs: 1,
          stack: null,
        },
        {
          kind: 'registration',
          phyAddr: '0x7f000000',
          size: 100,
          blockBytes: null,
          cached: true,
          label: 'crop',
          createdAtMs: 2,
          stack: null,
        },
      ],
      stats: { allocationCount: 1, bytesRequested: 5000 },
    };
    const read = readDump(JSON.stringify(native));
    assert.ok(typeof read !== 'string', String(read));
    assert.equal(read.subtitle, 'native: 1 live allocation(s), 5000 bytes asked for');
    const svg = renderMapSvg(mapRegions(read));
    assert.match(svg, /data-region="native"/);
    assert.match(svg, /data-kind="cached"[^>]*data-label="input"/);
    assert.match(svg, /data-kind="registered"[^>]*data-label="crop"/);
  });

  test('each kind of bad file says what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['{"format": "hbsys-heap-dump"', /^it is not JSON/],
      ['[1, 2]', /not an hbsys heap dump: its "format" must be "hbsys-heap-dump"/],
      ['{"format": "chrome-trace"}', /not an hbsys heap dump \(format 'chrome-trace'\)/],
      [
        '{"format": "hbsys-heap-dump", "version": 3}',
        /version 3, written by a newer hbsys.*upgrade hbsys/,
      ],
      ['{"format": "hbsys-heap-dump", "version": "2"}', /"version" must be 1 or 2, got "2"/],
      ['{"format": "hbsys-heap-dump", "version": 2, "regions": {}}', /"regions" must be an array/],
      [
        '{"format": "hbsys-heap-dump", "version": 2, "regions": [], "mappings": [{"kind": "allocation", "phyAddr": "4096"}]}',
        /mappings\[0\]\.phyAddr must be a hex string/,
      ],
      [
        '{"format": "hbsys-heap-dump", "version": 2, "mappings": [], "regions": [{"name": "ion", "base": "0x0", "size": 1, "blocks": [{"kind": "allocation", "phyAddr": "0x0", "blockBytes": -1}]}]}',
        /regions\[0\]\.blocks\[0\]\.blockBytes must be a number of bytes/,
      ],
    ];
    for (const [text, message] of cases) {
      const read = readDump(text);
      assert.equal(typeof read, 'string', text);
      assert.match(read as string, message);
    }
  });
});
