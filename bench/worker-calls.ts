/**
 * The worker thread of threads.bench.ts: on each message `{ ops }` it times the calls of
 * calls.ts in this thread and posts the samples back.
 */

import { parentPort } from 'node:worker_threads';
import { timeCalls } from './calls.js';

parentPort?.on('message', async (m: { ops: number }) => {
  try {
    parentPort?.postMessage({ samples: await timeCalls(m.ops) });
  } catch (error) {
    parentPort?.postMessage({ error: (error as Error).stack ?? String(error) });
  }
});
