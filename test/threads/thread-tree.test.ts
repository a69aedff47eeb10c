/**
 * The table of which thread made which worker thread, against a model: a Map of child to
 * parent. Threads are made (a new id, made by thread 0 or a live thread) and end (any
 * recorded thread); an end takes the thread's descendants, and leaves every other pair.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newThreadTree, ThreadTree } from '../../src/emulator/thread-tree.js';

/** A step: make a worker (its parent picked among thread 0 and the live ones), or end one. */
const step = fc.record({
  make: fc.boolean(),
  pick: fc.nat(),
});

/** The model's descendants of `thread`: every thread whose chain of parents reaches it. */
function descendants(model: Map<number, number>, thread: number): Set<number> {
  const out = new Set<number>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of model) {
      if (!out.has(child) && (parent === thread || out.has(parent))) {
        out.add(child);
        grew = true;
      }
    }
  }
  return out;
}

test('an end takes exactly the ended thread and its descendants, in any order of making', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
      const tree = new ThreadTree(newThreadTree());
      const model = new Map<number, number>();
      let next = 1;
      for (const s of steps) {
        const live = [...model.keys()];
        if (s.make || live.length === 0) {
          const parents = [0, ...live];
          const parent = parents[s.pick % parents.length]!;
          assert.equal(tree.record(next, parent), true);
          model.set(next++, parent);
        } else {
          const ended = live[s.pick % live.length]!;
          const want = descendants(model, ended);
          const got = tree.takeDescendants(ended);
          assert.deepEqual(new Set(got), want);
          assert.equal(got.length, want.size, 'each descendant once');
          model.delete(ended);
          for (const d of want) model.delete(d);
        }
        assert.deepEqual(new Map(tree.pairs()), model);
      }
    }),
  );
});

test('a child recorded before its parent is taken with it', () => {
  const tree = new ThreadTree(newThreadTree());
  // Thread 3's pair may be recorded before thread 2's: each parent records its own workers.
  tree.record(3, 2);
  tree.record(2, 1);
  tree.record(4, 0);
  assert.deepEqual(tree.takeDescendants(1).sort(), [2, 3]);
  assert.deepEqual(tree.pairs(), [[4, 0]]);
});

test('a full table records no more, and says so; an end makes room', () => {
  const tree = new ThreadTree(newThreadTree());
  let n = 1;
  while (tree.record(n, 0)) n++;
  assert.equal(n - 1, 1024);
  assert.equal(tree.record(n, 0), false);
  assert.deepEqual(tree.takeDescendants(1), []);
  assert.equal(tree.record(n, 0), true);
});

test('terminate requests against a model: the earliest of a thread and its recorded ancestors, of the latest 64', () => {
  // Steps make threads, end them (their pairs go), and ask threads to end at a growing
  // time; the model keeps every request in order and the pairs as a Map.
  const act = fc.record({ kind: fc.constantFrom('make', 'end', 'ask'), pick: fc.nat() });
  fc.assert(
    fc.property(fc.array(act, { maxLength: 300 }), (steps) => {
      const tree = new ThreadTree(newThreadTree());
      const parents = new Map<number, number>();
      const asked: [thread: number, at: number][] = [];
      let next = 1;
      let now = 0;
      for (const s of steps) {
        now += 1 + (s.pick % 5);
        const live = [...parents.keys()];
        if (s.kind === 'make' || live.length === 0) {
          const all = [0, ...live];
          const parent = all[s.pick % all.length]!;
          tree.record(next, parent);
          parents.set(next++, parent);
        } else if (s.kind === 'end') {
          const ended = live[s.pick % live.length]!;
          for (const d of tree.takeDescendants(ended)) parents.delete(d);
          parents.delete(ended);
        } else {
          const t = live[s.pick % live.length]!;
          tree.terminating(t, now);
          asked.push([t, now]);
        }
        const kept = asked.slice(-64);
        for (const t of [0, ...parents.keys(), next]) {
          let want = -1;
          const chain = new Set<number>();
          for (
            let x: number | undefined = t;
            x !== undefined && !chain.has(x);
            x = parents.get(x)
          ) {
            chain.add(x);
          }
          for (const [who, at] of kept) if (chain.has(who)) want = Math.max(want, now - at);
          assert.equal(tree.terminatedFor(t, now), want, `thread ${t}`);
        }
      }
    }),
  );
});

test('a terminate request is found for the thread and for its recorded descendants, with its age', () => {
  const tree = new ThreadTree(newThreadTree());
  tree.record(2, 1);
  tree.record(3, 2);
  tree.record(5, 4);
  assert.equal(tree.terminatedFor(3, 1000), -1, 'nobody was asked to end');
  tree.terminating(2, 400);
  assert.equal(tree.terminatedFor(2, 1000), 600);
  assert.equal(tree.terminatedFor(3, 1000), 600, 'its worker ends with it');
  assert.equal(tree.terminatedFor(1, 1000), -1, 'not its parent');
  assert.equal(tree.terminatedFor(5, 1000), -1, 'not another branch');
  tree.terminating(3, 900);
  assert.equal(tree.terminatedFor(3, 1000), 600, 'the earliest request of the chain');
});

test('the latest 64 terminate requests are kept; older ones are overwritten', () => {
  const tree = new ThreadTree(newThreadTree());
  for (let t = 1; t <= 100; t++) tree.terminating(t, t);
  assert.equal(tree.terminatedFor(36, 100), -1);
  assert.equal(tree.terminatedFor(37, 100), 63);
  assert.equal(tree.terminatedFor(100, 100), 0);
});
