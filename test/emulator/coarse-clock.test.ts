import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CoarseClock, READS_PER_CLOCK } from '../../src/emulator/coarse-clock.js';

/** The system clock, replaced by a counter of its reads that says what each read returned. */
const systemNow = performance.now;
let reads = 0;
function countReads(): void {
  reads = 0;
  performance.now = () => {
    reads++;
    return 1000 * reads;
  };
}
afterEach(() => {
  performance.now = systemNow;
});

describe('CoarseClock', () => {
  it('reads the system clock once per READS_PER_CLOCK reads of one synchronous run', () => {
    countReads();
    const clock = new CoarseClock();
    const times: number[] = [];
    for (let i = 0; i < 3 * READS_PER_CLOCK; i++) times.push(clock.now());
    assert.equal(reads, 3);
    assert.deepEqual(
      times,
      times.map((_, i) => 1000 * (Math.floor(i / READS_PER_CLOCK) + 1)),
    );
  });

  it('reads the clock afresh once the synchronous run ends (after an await)', async () => {
    countReads();
    const clock = new CoarseClock();
    assert.equal(clock.now(), 1000);
    await Promise.resolve();
    assert.equal(clock.now(), 2000);
    assert.equal(clock.now(), 2000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(clock.now(), 3000);
    assert.equal(reads, 3);
  });

  it('reads the clock afresh after elapsed()', () => {
    countReads();
    const clock = new CoarseClock();
    assert.equal(clock.now(), 1000);
    clock.elapsed();
    assert.equal(clock.now(), 2000);
    assert.equal(clock.now(), 2000);
  });

  it('never goes back, and never returns a time before the first read began', async () => {
    const clock = new CoarseClock();
    const before = performance.now();
    let last = clock.now();
    assert.ok(last >= before);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3 * READS_PER_CLOCK + round; i++) {
        const t = clock.now();
        assert.ok(t >= last);
        last = t;
      }
      await Promise.resolve();
    }
    assert.ok(last <= performance.now());
  });
});
