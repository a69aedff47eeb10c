import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { POLL_MS, pollWhile } from '../../src/emulator/bpu-queue.js';

/**
 * The system clock, replaced by one that moves `step` ms at each read: what the poll sees
 * of time is then exact, on any host (a timed bound would fail under emulation, where one
 * call can take longer than the whole poll).
 */
const systemNow = performance.now;
let clock = 0;
let reads = 0;
function steppingClock(step: number): void {
  clock = 0;
  reads = 0;
  performance.now = () => {
    reads++;
    clock += step;
    return clock;
  };
}
afterEach(() => {
  performance.now = systemNow;
});

describe('pollWhile (a waiter polls before it sleeps)', () => {
  it('answers at once when the word has already moved', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    words[1] = 3;
    steppingClock(0.01);
    assert.equal(pollWhile(words, 1, 2), true);
    assert.ok(reads <= 1, `it polled (${reads} clock reads)`);
  });

  it('gives up after POLL_MS when nothing moves, so the caller sleeps', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    steppingClock(0.01);
    assert.equal(pollWhile(words, 0, 0), false);
    // The first read sets the deadline; the poll ends at the first read past it.
    assert.ok(clock >= 0.01 + POLL_MS, `it gave up at ${clock} ms`);
    assert.ok(clock <= 0.01 + POLL_MS + 0.011, `it polled on to ${clock} ms`);
    assert.equal(words[0], 0, 'it only reads');
  });

  it('polls no longer than the time it is given, when that is less than POLL_MS', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    steppingClock(0.01);
    assert.equal(pollWhile(words, 0, 0, 0.05), false);
    assert.ok(clock <= 0.01 + 0.05 + 0.011, `it polled on to ${clock} ms`);
    steppingClock(0.01);
    assert.equal(pollWhile(words, 0, 0, 0), false);
    assert.ok(reads <= 2, `a time of 0 still polled (${reads} clock reads)`);
  });

  it('sees the word move while it polls', () => {
    // The clock stands in for the other thread: the word moves at the third read.
    const words = new Int32Array(new SharedArrayBuffer(8));
    steppingClock(0.01);
    const clockNow = performance.now;
    performance.now = () => {
      const t = clockNow();
      if (reads === 3) Atomics.store(words, 0, 1);
      return t;
    };
    assert.equal(pollWhile(words, 0, 0), true);
    assert.equal(reads, 3, 'it returned at the first read of the word after it moved');
  });
});
