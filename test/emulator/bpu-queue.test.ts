import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POLL_MS, pollWhile } from '../../src/emulator/bpu-queue.js';

describe('pollWhile (a waiter polls before it sleeps)', () => {
  it('answers at once when the word has already moved', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    words[1] = 3;
    const t = performance.now();
    assert.equal(pollWhile(words, 1, 2), true);
    assert.ok(performance.now() - t < POLL_MS, 'it did not poll');
  });

  it('gives up after POLL_MS when nothing moves, so the caller sleeps', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const t = performance.now();
    assert.equal(pollWhile(words, 0, 0), false);
    assert.ok(performance.now() - t >= POLL_MS);
    assert.equal(words[0], 0, 'it only reads');
  });

  it('polls no longer than the time it is given, when that is less than POLL_MS', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const t = performance.now();
    assert.equal(pollWhile(words, 0, 0, 0), false);
    // A read or two, not a poll (the bound is loose: the clock's own cost on a slow host).
    assert.ok(performance.now() - t < POLL_MS, 'it polled past the time it was given');
  });
});
