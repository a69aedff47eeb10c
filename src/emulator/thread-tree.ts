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
 * Layout: an Int32Array, [count, then (child, parent) pairs]. Callers hold the board's lock.
 * The pairs are few (one per live worker thread); when the table is full, a new pair is
 * not recorded (that thread's end then goes unseen, as before this table).
 */

/** Pairs the table holds at most. */
const MAX_PAIRS = 1024;

export function newThreadTree(): SharedArrayBuffer {
  return new SharedArrayBuffer((1 + 2 * MAX_PAIRS) * 4);
}

export class ThreadTree {
  private readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
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
