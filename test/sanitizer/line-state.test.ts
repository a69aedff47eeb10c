/**
 * The sanitizer's per-line state (stale for the CPU, written since allocation) against a
 * plain model, over random sequences of device writes, INVALIDATEs, CPU writes and new
 * owners.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CACHE_LINE, ION_HEAP_BASE } from '../../src/emulator/physical-memory.js';
import { DeviceLines } from '../../src/emulator/sanitizer.js';
import { testRegion } from '../emulator/test-regions.js';

const LINES = 64;
const SIZE = LINES * CACHE_LINE;

const range = fc
  .tuple(fc.nat(SIZE - 1), fc.integer({ min: 1, max: SIZE }))
  .map(([offset, size]) => ({ offset, size: Math.min(size, SIZE - offset) }));

const op = fc.oneof(
  fc.record({ op: fc.constant('mark' as const), r: range }),
  fc.record({ op: fc.constant('clear' as const), r: range }),
  fc.record({ op: fc.constant('forget' as const), r: range }),
  fc.record({ op: fc.constant('written' as const), r: range }),
  fc.record({ op: fc.constant('staleLine' as const), line: fc.nat(LINES - 1) }),
);

test('line state agrees with a model of stale and written lines', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), range, (ops, probe) => {
      // The marks live in the region's shared memory: a fresh region starts with none.
      const region = testRegion('ion', ION_HEAP_BASE, SIZE, 64, false);
      const lines = new DeviceLines();
      const stale = new Array<boolean>(LINES).fill(false);
      const written = new Array<boolean>(LINES).fill(false);
      const span = (r: { offset: number; size: number }) => {
        const out: number[] = [];
        for (let l = Math.floor(r.offset / CACHE_LINE); l * CACHE_LINE < r.offset + r.size; l++) {
          out.push(l);
        }
        return out;
      };
      for (const o of ops) {
        switch (o.op) {
          case 'mark':
            lines.mark(region, o.r.offset, o.r.size);
            for (const l of span(o.r)) stale[l] = written[l] = true;
            break;
          case 'clear':
            lines.clear(region, o.r.offset, o.r.size);
            for (const l of span(o.r)) stale[l] = false;
            break;
          case 'forget':
            lines.forget(region, o.r.offset, o.r.size);
            for (const l of span(o.r)) stale[l] = written[l] = false;
            break;
          case 'written':
            lines.written(region, o.r.offset, o.r.size);
            for (const l of span(o.r)) written[l] = true;
            break;
          case 'staleLine':
            lines.markStaleLine(region, o.line * CACHE_LINE);
            stale[o.line] = written[o.line] = true;
            break;
        }
      }
      const inProbe = span(probe);
      assert.deepEqual(
        lines.marked(region, probe.offset, probe.size),
        inProbe.filter((l) => stale[l]).map((l) => l * CACHE_LINE),
      );
      assert.equal(
        lines.anyMarked(region, probe.offset, probe.size),
        inProbe.some((l) => stale[l]),
      );
      assert.equal(
        lines.anyWritten(region, probe.offset, probe.size),
        inProbe.some((l) => written[l]),
      );
      for (let l = 0; l < LINES; l++)
        assert.equal(lines.isMarked(region, l * CACHE_LINE), stale[l]);
    }),
  );
});
