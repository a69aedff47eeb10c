/**
 * The planes' bulk operations (WebAssembly memory.fill / memory.copy on a shared memory)
 * against plain typed-array operations, and the shared string table of labels and stacks.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Region } from '../../src/emulator/physical-memory.js';
import { newPlaneMemory, planeOps, WASM_PAGE } from '../../src/emulator/plane-memory.js';
import { SharedStrings } from '../../src/emulator/shared-strings.js';

const SIZE = 3 * WASM_PAGE + 1000;

test('a plane is a shared memory of whole WebAssembly pages, its buffer a SharedArrayBuffer', () => {
  const m = newPlaneMemory(SIZE);
  assert.ok(m.buffer instanceof SharedArrayBuffer);
  assert.equal(m.buffer.byteLength, 4 * WASM_PAGE);
  assert.ok(
    new Uint8Array(m.buffer).every((b) => b === 0),
    'zeroed',
  );
});

test('fill sets exactly its range, as Uint8Array.prototype.fill does', () => {
  const memory = newPlaneMemory(SIZE);
  const ops = planeOps(memory);
  const plane = new Uint8Array(memory.buffer);
  const model = new Uint8Array(plane.length);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          at: fc.nat(plane.length - 1),
          n: fc.nat(70_000),
          value: fc.integer({ min: 0, max: 255 }),
        }),
        { maxLength: 12 },
      ),
      (fills) => {
        for (const { at, n, value } of fills) {
          const len = Math.min(n, plane.length - at);
          ops.fill(at, value, len);
          model.fill(value, at, at + len);
        }
        assert.ok(Buffer.from(plane.buffer).equals(Buffer.from(model.buffer)));
      },
    ),
    { numRuns: 200 },
  );
});

test('copy moves exactly its range, overlapping or not, as copyWithin does', () => {
  const memory = newPlaneMemory(2 * WASM_PAGE);
  const ops = planeOps(memory);
  const plane = new Uint8Array(memory.buffer);
  for (let i = 0; i < plane.length; i++) plane[i] = (i * 131) & 0xff;
  const model = plane.slice();
  fc.assert(
    fc.property(fc.nat(plane.length - 1), fc.nat(plane.length - 1), fc.nat(9000), (d, s, n) => {
      const len = Math.min(n, plane.length - d, plane.length - s);
      ops.copy(d, s, len);
      model.copyWithin(d, s, s + len);
      assert.ok(Buffer.from(plane.buffer).equals(Buffer.from(model.buffer)));
    }),
    { numRuns: 200 },
  );
});

test('Region.zero clears exactly its range of the planes it names, at any size', () => {
  // A region whose size is a multiple of its page but not of WebAssembly's.
  const region = new Region('ion', 0x0400_0000, 64 * 1000, 64, true);
  const planes = [region.memory, region.cache, region.shadow];
  const models = planes.map((p) => new Uint8Array(p.length));
  fc.assert(
    fc.property(
      fc.nat(999),
      fc.nat(1000),
      fc.constantFrom('all', 'memory', 'cpu', 'cache') as fc.Arbitrary<
        'all' | 'memory' | 'cpu' | 'cache'
      >,
      (page, pages, which) => {
        for (const [i, p] of planes.entries()) {
          p.fill(i + 1);
          models[i]!.fill(i + 1);
        }
        const offset = page * 64;
        const length = Math.min(pages, 1000 - page) * 64;
        region.zero(offset, length, which);
        const touched = { all: [0, 1, 2], memory: [0], cpu: [1, 2], cache: [1] }[which];
        for (const i of touched) models[i]!.fill(0, offset, offset + length);
        for (const [i, p] of planes.entries()) assert.ok(p.equals(models[i]!), `plane ${i}`);
      },
    ),
    { numRuns: 150 },
  );
});

test('shared strings: what one side puts, another side over the same buffer reads', () => {
  const buffer = SharedStrings.newBuffer();
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { maxLength: 40 }),
      (texts) => {
        const writer = new SharedStrings(buffer);
        const indexes = texts.map((t) => writer.put(t));
        // A fresh reader, as another thread has: nothing cached.
        const reader = new SharedStrings(buffer);
        for (const [i, t] of texts.entries()) {
          assert.ok(indexes[i]! >= 0);
          assert.equal(reader.get(indexes[i]!), t);
          assert.equal(writer.put(t), indexes[i], 'a string is stored once by its writer');
        }
      },
    ),
    { numRuns: 100 },
  );
  const reader = new SharedStrings(buffer);
  assert.equal(reader.get(-1), undefined);
  assert.equal(reader.get(1 << 30), undefined, 'an index past what was written');
});

test('shared strings: a full table says -1 and keeps what it has', () => {
  const strings = new SharedStrings(SharedStrings.newBuffer());
  const big = 'x'.repeat(1 << 20);
  const first = strings.put(`${big}0`);
  let last = first;
  let i = 1;
  for (; last >= 0 && i < 64; i++) last = strings.put(`${big}${i}`);
  assert.equal(last, -1, 'refused once 16 MiB are used');
  assert.ok(i > 10);
  assert.equal(strings.get(first), `${big}0`);
});
