/**
 * A worker thread that runs a body of code against the package and posts back its result,
 * for the tests of what threads share. Not a test file.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hbsys-workers-'));
let scripts = 0;

/** Runs `body` (an ES module's text, with `h` the package and `data` the workerData) in a worker. */
export function inWorker<T>(body: string, data?: unknown): Promise<T> {
  const file = join(dir, `w${scripts++}.mjs`);
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
