/**
 * What the planes say about each line (cache/line-state.ts), against a plain model of the
 * cache, over random sequences of CPU stores, device writes, CLEANs and INVALIDATEs: the
 * dirty lines are those the CPU stored to since their last sync, and the lines behind the
 * cache those whose memory changed while the CPU's copy, not dirty, did not.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  beforeDeviceWrite,
  clean,
  dirtyLines,
  invalidate,
  lineRange,
  linesBehindCache,
  markDirty,
} from '../../../src/emulator/cache/index.js';
import { CACHE_LINE, REF_CHUNK } from '../../../src/emulator/physical-memory.js';
import { testRegion } from '../test-regions.js';

/** Four reference chunks, so that runs of chunks whose reference is memory occur. */
const SIZE = 4 * REF_CHUNK;
const LINES = SIZE / CACHE_LINE;

const range = fc
  .tuple(fc.nat(SIZE - 1), fc.integer({ min: 1, max: SIZE }))
  .map(([offset, size]) => ({ offset, size: Math.min(size, SIZE - offset) }));

/** Byte values 1..255: a store of 0 would be invisible in a fresh (zeroed) region. */
const byte = fc.integer({ min: 1, max: 255 });

const op = fc.oneof(
  // The CPU stores one byte of a line (at byte 0): the cache plane.
  fc.record({ op: fc.constant('cpu' as const), line: fc.nat(LINES - 1), v: byte }),
  // A device writes one byte of a line (at byte 1): memory.
  fc.record({ op: fc.constant('device' as const), line: fc.nat(LINES - 1), v: byte }),
  fc.record({ op: fc.constant('clean' as const), r: range, trusted: fc.boolean() }),
  fc.record({ op: fc.constant('invalidate' as const), r: range, trusted: fc.boolean() }),
);

/** The model: two bytes of each line, in memory and in the CPU's copy, and whether dirty. */
interface Line {
  mem: [number, number];
  cpu: [number, number];
  dirty: boolean;
}

/** The lines `[offset, offset + size)` touches, as indexes. */
function linesOf(offset: number, size: number): number[] {
  const [s, e] = lineRange(offset, offset + size);
  const out: number[] = [];
  for (let l = s / CACHE_LINE; l < e / CACHE_LINE; l++) out.push(l);
  return out;
}

test('dirty lines and lines behind the cache agree with a model of the cache', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), range, fc.boolean(), (ops, probe, everTrusted) => {
      const r = testRegion('ion', 0, SIZE, 4096, true);
      const model: Line[] = Array.from({ length: LINES }, () => ({
        mem: [0, 0],
        cpu: [0, 0],
        dirty: false,
      }));
      for (const o of ops) {
        if (o.op === 'cpu') {
          r.cache[o.line * CACHE_LINE] = o.v;
          markDirty(r, o.line * CACHE_LINE, o.line * CACHE_LINE + 1);
          model[o.line]!.cpu[0] = o.v;
          model[o.line]!.dirty = true;
        } else if (o.op === 'device') {
          const at = o.line * CACHE_LINE + 1;
          beforeDeviceWrite(r, at, at + 1);
          r.memory[at] = o.v;
          model[o.line]!.mem[1] = o.v;
        } else {
          // Lines behind the cache are defined with the reference in the shadow plane:
          // only for memory whose flushes are never trusted (an uncached owner's).
          const trusted = everTrusted && o.trusted;
          (o.op === 'clean' ? clean : invalidate)(r, o.r.offset, o.r.offset + o.r.size, trusted);
          for (const l of linesOf(o.r.offset, o.r.size)) {
            const line = model[l]!;
            if (line.dirty) line.mem = [...line.cpu];
            line.dirty = false;
            if (o.op === 'invalidate') line.cpu = [...line.mem];
          }
        }
      }
      const probed = linesOf(probe.offset, probe.size);
      const dirty = probed.filter((l) => model[l]!.dirty).map((l) => l * CACHE_LINE);
      assert.deepEqual(dirtyLines(r, probe.offset, probe.offset + probe.size), dirty);
      if (everTrusted) return;
      const behind = probed
        .filter((l) => {
          const { mem, cpu, dirty } = model[l]!;
          return !dirty && (mem[0] !== cpu[0] || mem[1] !== cpu[1]);
        })
        .map((l) => l * CACHE_LINE);
      assert.deepEqual(linesBehindCache(r, probe.offset, probe.size), behind);
    }),
    { numRuns: 300 },
  );
});
