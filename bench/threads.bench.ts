/**
 * Workload: an hbSys call from a worker thread against the same call in the main thread
 * (the calls of calls.ts: a 4 KiB alloc + free pair with a fresh mem, and hbSysWriteMem of
 * 64 B). Both threads run the same code on a board set up the same way; the rounds
 * alternate (main, worker, main, worker) so both see the same machine load. Figures:
 * median per call over the batches of both rounds.
 *
 * What it measures today: hbsys in a worker thread makes a board of its own, so this is
 * the cost of a call in a worker on that board, not yet of a call on a board shared between
 * threads.
 */

import { Worker } from 'node:worker_threads';
import { type CallSamples, timeCalls } from './calls.js';
import { opStats, type TimeStats } from './measure.js';

export interface ThreadsResult {
  main: { pair4k: TimeStats; write64: TimeStats };
  worker: { pair4k: TimeStats; write64: TimeStats };
}

function merge(rounds: CallSamples[], key: keyof CallSamples): TimeStats {
  const all = rounds.flatMap((r) => Array.from(r[key]));
  return opStats(all, all.length * 32);
}

export async function threadsBench(ops: number, rounds: number): Promise<ThreadsResult> {
  const worker = new Worker(new URL('./worker-calls.js', import.meta.url));
  const inWorker = () =>
    new Promise<CallSamples>((resolve, reject) => {
      worker.once('message', (m: { samples?: CallSamples; error?: string }) => {
        if (m.samples) resolve(m.samples);
        else reject(new Error(`the benchmark's worker thread failed: ${m.error}`));
      });
      worker.once('error', reject);
      worker.postMessage({ ops });
    });
  const main: CallSamples[] = [];
  const work: CallSamples[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      main.push(await timeCalls(ops));
      work.push(await inWorker());
    }
  } finally {
    await worker.terminate();
  }
  return {
    main: { pair4k: merge(main, 'pair4k'), write64: merge(main, 'write64') },
    worker: { pair4k: merge(work, 'pair4k'), write64: merge(work, 'write64') },
  };
}
