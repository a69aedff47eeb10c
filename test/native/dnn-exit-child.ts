/**
 * A program of its own for dnn-exit.test.ts: it ends (or a worker of it ends) while a task
 * of the C stand-in still runs on the stand-in's own thread, or just after one completed.
 * The test runs it in a child process, which must exit with code 0. The mode is argv[2]:
 *
 * - worker-ends: only a worker loads libdnn; it submits a task and ends without waiting.
 * - worker-terminated: only a worker loads libdnn; it is terminated while an asynchronous
 *   wait (the task's promise) is in flight in one of koffi's worker threads.
 * - exit-in-flight: the main thread calls process.exit while the task runs and its promise
 *   is pending.
 * - end-after-wait: the main thread waits for tasks that complete together, releases them
 *   and ends at once, while their threads are still on their way out of the library.
 *
 * In the worker modes the main thread then lives on past the task's end, and prints whether
 * the library is still mapped (`{"mapped":true}`).
 */

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { hbDNNOut, hbDNNTaskHandle_t } from '../../src/dnn/types.js';
import {
  ctrl,
  freshStandin,
  loadModels,
  ok,
  publicStandin,
  type Standin,
  tensorOf,
  writeModel,
} from './dnn-harness.js';
import { standinVariantPath } from './standin.js';

const SLOW_MS = 300;

const MODELS = `hbsys-standin-model 1
model slow delay_ms=${SLOW_MS}
input  x type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16 k=2 b=0
`;

/** Loads the model file and submits `count` tasks of the slow model. */
function submit(s: Standin, file: string, count: number): hbDNNTaskHandle_t[] {
  const slow = loadModels(s, file).handle('slow');
  return Array.from({ length: count }, () => {
    const input = tensorOf(s, slow, 'input', 16);
    const output = tensorOf(s, slow, 'output', 16);
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], slow, ctrl()));
    return task.value!;
  });
}

const VARIANT = 'C-1.24.5';

if (!isMainThread) {
  const { mode, file } = workerData as { mode: string; file: string };
  const s = freshStandin(VARIANT);
  const [task] = submit(s, file, 1);
  if (mode === 'worker-terminated') void s.dnn.taskDone(task!);
  parentPort!.postMessage('submitted');
} else {
  const mode = process.argv[2];
  const file = writeModel(MODELS);
  if (mode === 'worker-ends' || mode === 'worker-terminated') {
    const worker = new Worker(new URL(import.meta.url), { workerData: { mode, file } });
    await once(worker, 'message');
    if (mode === 'worker-terminated') {
      await sleep(20); // the wait is in flight in a koffi worker thread
      await worker.terminate();
    } else {
      await once(worker, 'exit');
    }
    const path = standinVariantPath(VARIANT);
    const mapped = readFileSync('/proc/self/maps', 'utf8').includes(path);
    // The task's thread wakes and ends while this process lives.
    await sleep(SLOW_MS * 2);
    console.log(JSON.stringify({ mapped }));
  } else if (mode === 'exit-in-flight') {
    const s = publicStandin(VARIANT);
    const [task] = submit(s, file, 1);
    void s.dnn.taskDone(task!);
    await sleep(20);
    process.exit(0);
  } else if (mode === 'end-after-wait') {
    const s = publicStandin(VARIANT);
    for (const task of submit(s, file, 8)) {
      ok(s.api.hbDNNWaitTaskDone(task, 0));
      ok(s.api.hbDNNReleaseTask(task));
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}
