/**
 * Workload: an hbSys call from a worker thread against the same call in the main thread
 * (the calls of calls.ts: a 4 KiB alloc + free pair with a fresh mem, and hbSysWriteMem of
 * 64 B). Both threads run the same code on the one board they share (the main thread
 * makes it, then starts the worker); the rounds alternate (main, worker, main, worker) so
 * both see the same machine load. Figures: median per call over the batches of both rounds.
 */

import { Worker } from 'node:worker_threads';
import { benchBoard, type CallSamples, timeCalls } from './calls.js';
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
  // The board first: a worker started after it shares it (one machine per process).
  await benchBoard();
  const worker = new Worker(new URL('./worker-calls.js', import.meta.url));
  const inWorker = () =>
    new Promise<CallSamples>((resolve, reject) => {
      worker.once('message', (m: { samples?: CallSamples; error?: string }) => {
        worker.off('error', reject);
        if (m.samples) resolve(m.samples);
        else reject(new Error(`the benchmark's worker thread failed: ${m.error}`));
      });
      worker.once('error', reject);
      worker.postMessage({ ops });
    });
  const main: CallSamples[] = [];
  const work: CallSamples[] = [];
  try {
    // One round in each thread, not counted: each thread's JIT compiles the calls on its own,
    // and a short (quick) run would otherwise time the worker's warm-up.
    await timeCalls(ops);
    await inWorker();
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
