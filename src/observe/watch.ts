/**
 * Follows the current machine for live observers: calls `onChange` (at most every
 * `intervalMs`) when something happened on it. Machine events say so at once; a light
 * poll of the counters catches the rest (work that emits no event) and follows
 * `emulator.reset()`, which makes a new machine.
 */

import { currentMachine } from '../emulator/index.js';
import type { Machine } from '../emulator/machine.js';

/** A summary that changes whenever the heap, the cache state or the BPU counters do. */
function signature(m: Machine): string {
  const c = m.counters;
  return `${c.allocs},${c.frees},${c.registrations},${c.unregistrations},${c.cleans},${c.invalidates},${c.bpuJobs}`;
}

/** Starts watching; returns a function that stops. The poll timer never keeps Node alive. */
export function watchMachine(onChange: () => void, intervalMs = 100): () => void {
  let machine: Machine | undefined;
  let last = '';
  const listener = () => onChange();
  const follow = () => {
    const m = currentMachine();
    if (m !== machine) {
      machine?.listeners.delete(listener);
      m.listeners.add(listener);
      machine = m;
      last = '';
    }
    const now = signature(m);
    if (now !== last) {
      last = now;
      onChange();
    }
  };
  follow();
  const timer = setInterval(follow, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    machine?.listeners.delete(listener);
  };
}
