/** The native ledger as a data structure: its counts always equal a model's, whatever the order of calls. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NativeLedger } from '../../src/native/ledger.js';

type Op =
  | { op: 'alloc'; size: number; label: string | undefined }
  | { op: 'register'; size: number }
  | { op: 'close'; pick: number }
  | { op: 'close-unknown' }
  | { op: 'flush'; pick: number; clean: boolean; size: number };

const ops = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constant('alloc' as const),
      size: fc.integer({ min: 1, max: 1 << 20 }),
      label: fc.option(fc.constantFrom('in', 'out', '__proto__'), { nil: undefined }),
    }),
    fc.record({ op: fc.constant('register' as const), size: fc.integer({ min: 1, max: 1 << 16 }) }),
    fc.record({ op: fc.constant('close' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('close-unknown' as const) }),
    fc.record({
      op: fc.constant('flush' as const),
      pick: fc.nat(),
      clean: fc.boolean(),
      size: fc.integer({ min: 1, max: 4096 }),
    }),
  ),
  { maxLength: 200 },
);

test('counts, bytes, high-water and the live list follow every open and close', () => {
  fc.assert(
    fc.property(ops, (sequence: Op[]) => {
      const ledger = new NativeLedger(false);
      const live: { key: object; kind: 'allocation' | 'registration'; size: number }[] = [];
      let bytes = 0;
      let peak = 0;
      let registered = 0;
      let cleaned = 0;
      let invalidated = 0;
      let address = 0x1000n;
      for (const s of sequence) {
        if (s.op === 'alloc' || s.op === 'register') {
          const key = {};
          const kind = s.op === 'alloc' ? 'allocation' : 'registration';
          ledger.opened(key, kind, address, s.size, true, s.op === 'alloc' ? s.label : undefined);
          address += BigInt(s.size);
          live.push({ key, kind, size: s.size });
          if (kind === 'allocation') {
            bytes += s.size;
            peak = Math.max(peak, bytes);
          } else registered += s.size;
        } else if (s.op === 'close' && live.length > 0) {
          const [gone] = live.splice(s.pick % live.length, 1);
          ledger.closed(gone!.key);
          if (gone!.kind === 'allocation') bytes -= gone!.size;
          else registered -= gone!.size;
        } else if (s.op === 'close-unknown') {
          ledger.closed({}); // never opened: nothing changes
        } else if (s.op === 'flush' && live.length > 0) {
          ledger.flushed(
            live[s.pick % live.length]!.key,
            s.clean ? 'clean' : 'invalidate',
            s.size,
            0,
          );
          if (s.clean) cleaned += s.size;
          else invalidated += s.size;
        }
      }
      const c = ledger.counts;
      assert.equal(c.allocationCount, live.filter((l) => l.kind === 'allocation').length);
      assert.equal(c.registrationCount, live.filter((l) => l.kind === 'registration').length);
      assert.equal(c.bytesInUse, bytes);
      assert.equal(c.peakBytesInUse, peak);
      assert.equal(c.bytesRegistered, registered);
      assert.equal(c.allocs - c.frees, c.allocationCount);
      assert.equal(c.registrations - c.unregistrations, c.registrationCount);
      assert.equal(c.bytesCleaned, cleaned);
      assert.equal(c.bytesInvalidated, invalidated);
      // The live list is what is open, in the order it was opened.
      const entries = ledger.entries();
      assert.deepEqual(
        entries.map((e) => [e.kind, e.size]),
        live.map((l) => [l.kind, l.size]),
      );
      assert.ok(entries.every((e, i) => i === 0 || entries[i - 1]!.id < e.id));
      for (const l of live) ledger.closed(l.key);
      assert.equal(ledger.entries().length, 0);
    }),
    { numRuns: 300 },
  );
});
