/**
 * Worker threads that run a body of code against the package, for the tests of what
 * threads share. Not a test file.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const internals = fileURLToPath(new URL('../../src/emulator/index.js', import.meta.url));
const dnnHelpers = fileURLToPath(new URL('../dnn/helpers.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hbsys-workers-'));
let scripts = 0;

/** A path for a new script of the tests (in a directory of their own). */
export function scriptPath(prefix = 's'): string {
  return join(dir, `${prefix}${scripts++}.mjs`);
}

/** Runs `body` (an ES module's text, with `h` the package and `data` the workerData) in a worker. */
export function inWorker<T>(body: string, data?: unknown): Promise<T> {
  const file = scriptPath('w');
  writeFileSync(
    file,
    `import * as h from ${JSON.stringify(entry)};\n` +
      `import { parentPort, workerData as data } from 'node:worker_threads';\n` +
      `const result = await (async () => {\n${body}\n})();\n` +
      `parentPort.postMessage(result);\n`,
  );
  const worker = new Worker(file, { workerData: data });
  return new Promise<T>((resolve, reject) => {
    worker.once('message', (r) => resolve(r as T));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the worker exited (${code}) without a result`)),
    );
  });
}

/**
 * A module's text with `h` the package, `bpu` the emulator's internals, `dnn` the hbDNN
 * test helpers, and `parentPort`, `data` (the workerData).
 */
export function moduleText(body: string): string {
  return (
    `import * as h from ${JSON.stringify(entry)};\n` +
    `import * as bpu from ${JSON.stringify(internals)};\n` +
    `import * as dnn from ${JSON.stringify(dnnHelpers)};\n` +
    `import { parentPort, workerData as data } from 'node:worker_threads';\n${body}\n`
  );
}

/** Starts `body` (a module's text, see moduleText) in a worker thread. */
export function startWorker(body: string, data?: unknown): Worker {
  const file = scriptPath('w');
  writeFileSync(file, moduleText(body));
  return new Worker(file, { workerData: data });
}

/** The next message of `worker` (rejects if it fails or exits first). */
export function next<T>(worker: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    const onExit = (code: number) => reject(new Error(`the worker exited (${code})`));
    worker.once('message', (m) => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve(m as T);
    });
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}
