/**
 * Which thread made which worker thread, in shared memory: the threads whose end goes
 * unseen otherwise. A thread's end is seen by the thread that made its Worker (its 'exit'
 * event); but a thread's workers end with it (Node ends them as it tears the thread down),
 * and the thread that would have seen them go is the one that ended. So each thread that
 * has a machine records the workers it makes here, and the thread that sees an end takes
 * the ended thread's descendants with it (see Bpu.threadEnded).
 *
 * What it cannot know: a worker made by a thread where hbsys has no machine is recorded
 * by nobody (Node names no thread's parent), nor are its descendants.
 *
 * It also keeps the threads asked to end (`worker.terminate()`, seen by the thread that
 * calls it), and when: a thread terminated inside an hbsys call leaves the board's lock
 * taken, and the thread that would let it go on seeing the end is the one that terminated
 * it, which may call hbsys again before its event loop turns (it would wait forever). A
 * thread waiting for the lock lets it go once its holder, or an ancestor, was asked to end
 * long enough ago (see Board, `abandoned`).
 *
 * Layout: an Int32Array, [count, then (child, parent) pairs], then the requests: a ring of
 * thread ids with its next index, and their times (a Float64Array). Callers hold the
 * board's lock for the pairs; the requests are written and read without it (the thread
 * that terminates may be waiting for the lock). The pairs are few (one per live worker
 * thread); when the table is full, a new pair is not recorded (that thread's end then goes
 * unseen, as before this table).
 */

/** Pairs the table holds at most. */
const MAX_PAIRS = 1024;
/** Terminate requests kept: the latest ones (a request matters only until that end is seen). */
const REQUESTS = 64;
/** Words: the count and the pairs, the ring's next index, the ring (padded to 8 bytes). */
const RING_NEXT = 1 + 2 * MAX_PAIRS;
const RING = RING_NEXT + 1;
const WORDS = RING + REQUESTS + ((RING + REQUESTS) % 2);

export function newThreadTree(): SharedArrayBuffer {
  return new SharedArrayBuffer(WORDS * 4 + REQUESTS * 8);
}

export class ThreadTree {
  private readonly words: Int32Array;
  /** When each request of the ring was made (ms since the epoch: every thread's clock). */
  private readonly requestedAt: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, WORDS);
    this.requestedAt = new Float64Array(buffer, WORDS * 4, REQUESTS);
  }

  /**
   * `thread` was asked to end at `at` (Date.now()). Without the lock: the time first, then
   * the id, so that a reader that finds the id reads its time.
   */
  terminating(thread: number, at: number): void {
    const i = Atomics.add(this.words, RING_NEXT, 1) % REQUESTS;
    Atomics.store(this.words, RING + i, 0);
    this.requestedAt[i] = at;
    Atomics.store(this.words, RING + i, thread + 1);
  }

  /**
   * How long before `now` `thread`, or a recorded ancestor of it (whose end ends it), was
   * asked to end, at the earliest; -1 when none was. Without the lock.
   */
  terminatedFor(thread: number, now: number): number {
    const w = this.words;
    let longest = -1;
    const seen = new Set<number>();
    for (let t = thread; t >= 0 && !seen.has(t); t = this.parentOf(t)) {
      seen.add(t);
      for (let i = 0; i < REQUESTS; i++) {
        if (Atomics.load(w, RING + i) === t + 1)
          longest = Math.max(longest, now - this.requestedAt[i]!);
      }
    }
    return longest;
  }

  /** The recorded parent of `thread`, or -1. */
  private parentOf(thread: number): number {
    const w = this.words;
    const n = Math.min(Atomics.load(w, 0), MAX_PAIRS);
    for (let i = 0; i < n; i++) if (w[1 + 2 * i] === thread) return w[2 + 2 * i]!;
    return -1;
  }

  /** `parent` made the worker thread `child`. Returns false when the table is full. */
  record(child: number, parent: number): boolean {
    const w = this.words;
    const n = w[0]!;
    if (n >= MAX_PAIRS) return false;
    w[1 + 2 * n] = child;
    w[2 + 2 * n] = parent;
    // The count last: a reader without the lock sees whole pairs (descendantsOf).
    Atomics.store(w, 0, n + 1);
    return true;
  }

  /**
   * The recorded descendants of `thread` (its workers, theirs, …). Read without the lock
   * too (to let go of a lock one of them left taken, before taking it): a pair recorded
   * meanwhile is a thread made since, not a descendant of one that ended.
   */
  descendantsOf(thread: number): number[] {
    const w = this.words;
    const out: number[] = [];
    const ended = new Set([thread]);
    // Whole passes until one adds nobody: a child may be listed before its parent's pair.
    for (let grew = true; grew; ) {
      grew = false;
      const n = Math.min(Atomics.load(w, 0), MAX_PAIRS);
      for (let i = 0; i < n; i++) {
        const child = w[1 + 2 * i]!;
        if (!ended.has(child) && ended.has(w[2 + 2 * i]!)) {
          ended.add(child);
          out.push(child);
          grew = true;
        }
      }
    }
    return out;
  }

  /**
   * The recorded descendants of `thread`, removed from the table, and its own pair too:
   * `thread` ended, and they with it. Under the lock.
   */
  takeDescendants(thread: number): number[] {
    const w = this.words;
    const out = this.descendantsOf(thread);
    const ended = new Set([thread, ...out]);
    // Drop the pairs of every thread that ended, its own included.
    let kept = 0;
    for (let i = 0; i < w[0]!; i++) {
      const child = w[1 + 2 * i]!;
      if (ended.has(child)) continue;
      w[1 + 2 * kept] = child;
      w[2 + 2 * kept] = w[2 + 2 * i]!;
      kept++;
    }
    Atomics.store(w, 0, kept);
    return out;
  }

  /** The pairs recorded, for tests. */
  pairs(): [child: number, parent: number][] {
    const w = this.words;
    return Array.from({ length: w[0]! }, (_, i) => [w[1 + 2 * i]!, w[2 + 2 * i]!]);
  }
}
