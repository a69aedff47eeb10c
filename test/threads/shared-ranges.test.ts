/**
 * The shared range table (in-flight jobs, task-held memory of every thread) against a model:
 * a Map of (thread, key) to ranges. Any sequence of adds and removes leaves the table
 * answering `has` and `others` as the model does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newRangeTable, SharedRanges } from '../../src/emulator/shared-ranges.js';

type Range = { phyAddr: number; size: number; flags: number };

const op = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    thread: fc.integer({ min: 0, max: 3 }),
    key: fc.integer({ min: 1, max: 12 }),
    ranges: fc.array(
      fc.record({
        phyAddr: fc.integer({ min: 0, max: 4096 }),
        size: fc.integer({ min: 1, max: 512 }),
        flags: fc.integer({ min: 0, max: 7 }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    text: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('remove' as const),
    thread: fc.integer({ min: 0, max: 3 }),
    key: fc.integer({ min: 1, max: 12 }),
  }),
);

test('the shared range table answers as a map of (thread, key) to ranges', () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 120 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 4096 }),
      fc.integer({ min: 1, max: 1024 }),
      (ops, viewer, phyAddr, size) => {
        const table = new SharedRanges(newRangeTable());
        const model = new Map<
          string,
          { thread: number; key: number; ranges: Range[]; text: string }
        >();
        for (const o of ops) {
          const id = `${o.thread}:${o.key}`;
          if (o.kind === 'add') {
            if (model.has(id)) continue; // a key is added once while live
            assert.ok(table.add(o.thread, o.key, o.key * 10, o.ranges, o.text));
            model.set(id, { thread: o.thread, key: o.key, ranges: o.ranges, text: o.text });
          } else {
            table.remove(o.thread, o.key);
            model.delete(id);
          }
        }
        let live = 0;
        for (const e of model.values()) live += e.ranges.length;
        assert.equal(table.live, live);
        for (let t = 0; t <= 3; t++) {
          for (let k = 1; k <= 12; k++) assert.equal(table.has(t, k), model.has(`${t}:${k}`));
        }
        const want = [...model.values()]
          .filter((e) => e.thread !== viewer)
          .flatMap((e) =>
            e.ranges
              .filter((r) => phyAddr < r.phyAddr + r.size && r.phyAddr < phyAddr + size)
              .map(
                (r) =>
                  `${e.thread}:${e.key}:${e.key * 10}:${r.phyAddr}:${r.size}:${r.flags}:${e.text}`,
              ),
          )
          .sort();
        const got = table
          .others(viewer, phyAddr, size)
          .map((r) => `${r.thread}:${r.key}:${r.id}:${r.phyAddr}:${r.size}:${r.flags}:${r.text}`)
          .sort();
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 300 },
  );
});
