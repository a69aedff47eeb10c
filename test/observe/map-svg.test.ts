/** The memory-map SVG: one group per block, coloured by kind, addresses and labels escaped. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocate, emulator, register } from '../../src/index.js';
import { dumpHeap } from '../../src/observe/dump.js';
import {
  MAP_COLOURS,
  type MapRegionInput,
  mapKind,
  renderMapSvg,
} from '../../src/observe/map-svg.js';
import { smallMachine } from '../helpers.js';

interface Group {
  attrs: Record<string, string>;
  rects: { x: number; y: number; width: number; fill: string }[];
}

function groups(svg: string): Group[] {
  return [...svg.matchAll(/<g class="block"([^>]*)>(.*?)<\/g>/g)].map((m) => ({
    attrs: Object.fromEntries(
      [...m[1]!.matchAll(/ data-(\w+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]),
    ),
    rects: [
      ...m[2]!.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"[^>]* fill="([^"]+)"/g),
    ].map((r) => ({ x: Number(r[1]), y: Number(r[2]), width: Number(r[3]), fill: r[4]! })),
  }));
}

test('every block of every region is drawn, in its kind colour', async () => {
  await smallMachine();
  const cached = allocate(100, { cached: true, label: 'tensor <in> & "out"' });
  const uncached = allocate(4096 * 3, { label: 'weights' });
  const frame = emulator.vio.alloc(4096);
  const idle = emulator.vio.alloc(4096);
  const reg = register(frame.phyAddr, 4096);
  const dump = dumpHeap();
  const svg = renderMapSvg(dump.regions, { width: 400 });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.doesNotMatch(svg, /<in>/, 'labels are escaped');
  const g = groups(svg);
  const blocks = dump.regions.flatMap((r) => r.blocks);
  assert.equal(g.length, blocks.length);
  assert.deepEqual(
    g.map((x) => x.attrs.kind),
    ['cached', 'uncached', 'free', 'registered', 'vio', 'free'],
  );
  g.forEach((x, i) => {
    assert.equal(x.attrs.addr, blocks[i]!.phyAddr);
    assert.equal(Number(x.attrs.size), blocks[i]!.blockBytes);
    assert.ok(x.rects.length >= 1);
    for (const r of x.rects) {
      assert.equal(r.fill, MAP_COLOURS[x.attrs.kind as keyof typeof MAP_COLOURS]);
      assert.ok(r.x >= 12 && r.x + r.width <= 412 + 0.01, 'inside the bar');
    }
  });
  // Larger blocks are drawn wider (√size), every one at least the minimum width.
  const width = (x: Group) => x.rects.reduce((sum, r) => sum + r.width, 0);
  assert.ok(width(g[1]!) > width(g[0]!), 'three pages wider than one');
  assert.ok(width(g[5]!) > width(g[4]!), 'the free rest of the VIO region wider than one buffer');
  assert.match(svg, /class="title"[^>]*>hbsys memory map</);
  assert.doesNotMatch(renderMapSvg(dump.regions, { title: '' }), /class="title"/);
  reg.free();
  cached.free();
  uncached.free();
  emulator.vio.free(frame.phyAddr);
  emulator.vio.free(idle.phyAddr);
});

test('many blocks wrap onto more rows; every block stays visible', () => {
  const blocks = Array.from({ length: 300 }, (_, i) => ({
    kind: i % 2 === 0 ? ('allocation' as const) : ('free' as const),
    phyAddr: `0x${(0x0400_0000 + i * 4096).toString(16).padStart(8, '0')}`,
    blockBytes: 4096,
    size: 4096,
    cached: i % 2 === 0 ? false : null,
    label: null,
    registrations: [],
  }));
  const region: MapRegionInput = { name: 'ion', base: '0x04000000', size: 300 * 4096, blocks };
  const g = groups(renderMapSvg([region], { width: 600, minBlockWidth: 5 }));
  assert.equal(g.length, 300);
  const rows = new Set(g.flatMap((x) => x.rects.map((r) => r.y)));
  assert.ok(
    rows.size >= 5,
    `300 blocks of at least 5 px in 600 px rows need 5 rows, got ${rows.size}`,
  );
  for (const x of g) assert.ok(x.rects.reduce((s, r) => s + r.width, 0) >= 5 - 0.01);
});

test('mapKind: registrations win over the owner kind', () => {
  const base = { phyAddr: '0x0', blockBytes: 4096, size: 4096, label: null };
  assert.equal(mapKind({ ...base, kind: 'free', cached: null, registrations: [] }), 'free');
  assert.equal(mapKind({ ...base, kind: 'vio', cached: true, registrations: [] }), 'vio');
  assert.equal(mapKind({ ...base, kind: 'vio', cached: true, registrations: [{}] }), 'registered');
  assert.equal(
    mapKind({ ...base, kind: 'allocation', cached: true, registrations: [{}] }),
    'registered',
  );
  assert.equal(
    mapKind({ ...base, kind: 'allocation', cached: false, registrations: [] }),
    'uncached',
  );
  assert.equal(mapKind({ ...base, kind: 'allocation', cached: true, registrations: [] }), 'cached');
});
