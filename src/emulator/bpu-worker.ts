/**
 * The BPU: a worker thread over physical memory. It has no cache: it reads and writes the
 * memory planes only. It takes jobs from the shared ring in order and runs each to its end;
 * a job that throws is reported as a fault in its status slot and the worker goes on.
 */

import { parentPort, workerData } from 'node:worker_threads';
import {
  ERROR_BYTES,
  HEAD,
  RING,
  SLOT_WORDS,
  STATUS_FAULT,
  STATUS_OK,
  STOP,
  TAIL,
  type WorkerInit,
} from './bpu-queue.js';
import type { AddressResolver } from './kernels/kernel.js';
import { kernelNames, kernels } from './kernels/registry.js';

if (parentPort === null) throw new Error('bpu-worker runs as a worker thread only');
const init = workerData as WorkerInit;
const control = new Int32Array(init.queue.control);
const slots = new Float64Array(init.queue.slots);
const status = new Int32Array(init.queue.status);
const errorText = new Uint8Array(init.queue.errorText);
const regions = init.regions.map((r) => ({
  base: r.base,
  size: r.size,
  plane: Buffer.from(r.memory),
}));

const resolve: AddressResolver = (phyAddr, size) => {
  for (const r of regions) {
    if (phyAddr >= r.base && phyAddr + size <= r.base + r.size) {
      return { plane: r.plane, offset: phyAddr - r.base };
    }
  }
  throw new RangeError(`no physical memory at 0x${phyAddr.toString(16)} (+${size} bytes)`);
};

function runJob(slot: number): void {
  const at = slot * SLOT_WORDS;
  const name = kernelNames[slots[at]!];
  try {
    if (name === undefined) throw new Error(`unknown kernel index ${slots[at]}`);
    kernels[name].run(resolve, slots.subarray(at + 1, at + SLOT_WORDS));
    status[slot] = STATUS_OK;
  } catch (error) {
    const text = Buffer.from(String(error instanceof Error ? error.message : error)).subarray(
      0,
      ERROR_BYTES - 4,
    );
    errorText.set(text, slot * ERROR_BYTES + 4);
    new DataView(errorText.buffer).setInt32(slot * ERROR_BYTES, text.byteLength, true);
    status[slot] = STATUS_FAULT;
  }
}

for (;;) {
  const done = Atomics.load(control, TAIL);
  while (Atomics.load(control, HEAD) === done) {
    if (Atomics.load(control, STOP) !== 0) process.exit(0);
    Atomics.wait(control, HEAD, done, 1000);
  }
  if (Atomics.load(control, STOP) !== 0) process.exit(0);
  runJob(done % RING);
  Atomics.store(control, TAIL, done + 1);
  Atomics.notify(control, TAIL);
}
