/**
 * The BPU: a worker thread over physical memory. It has no cache: it reads and writes the
 * memory planes only. It takes jobs from the shared ring in order and runs each to its end;
 * a job that throws is reported as a fault in its status slot and the worker goes on.
 *
 * Kernels run synchronously. Model jobs (dnn/device.ts) are asynchronous (the ONNX
 * runtime's API is Promise-based), and a thread blocked in Atomics.wait never runs its
 * promises: so the loop awaits a model job to its end, and only waits with Atomics.wait
 * when there is nothing to run, when no promise of ours is pending.
 */

import {
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import {
  DEAD,
  ERROR_BYTES,
  HEAD,
  MESSAGE_JOB,
  RING,
  SLOT_WORDS,
  STARTED,
  STATUS_CANCELLED,
  STATUS_FAULT,
  STATUS_OK,
  STOP,
  TAIL,
  type WorkerInit,
} from './bpu-queue.js';
import type { AddressResolver } from './kernels/kernel.js';
import { deviceKernels } from './kernels/registry.js';

if (parentPort === null) throw new Error('bpu-worker runs as a worker thread only');
const init = workerData as WorkerInit;
const control = new Int32Array(init.queue.control);
const slots = new Float64Array(init.queue.slots);
const status = new Int32Array(init.queue.status);
const errorText = new Uint8Array(init.queue.errorText);
const cancel = new Int32Array(init.queue.cancel);
const port: MessagePort = init.port;
const regions = init.regions.map((r) => ({
  base: r.base,
  size: r.size,
  plane: Buffer.from(r.memory),
}));

// A thread blocked waiting for a job (hbDNNWaitTaskDone) learns that this worker is gone.
process.on('exit', () => {
  Atomics.store(control, DEAD, 1);
  Atomics.notify(control, TAIL);
});

const resolve: AddressResolver = (phyAddr, size) => {
  for (const r of regions) {
    if (phyAddr >= r.base && phyAddr + size <= r.base + r.size) {
      return { plane: r.plane, offset: phyAddr - r.base };
    }
  }
  throw new RangeError(
    `no physical memory at 0x${phyAddr.toString(16).padStart(8, '0')} (+${size} bytes)`,
  );
};

type ModelDevice = typeof import('./dnn/device.js');
let modelDevice: ModelDevice | undefined;

function fault(slot: number, error: unknown): void {
  const text = Buffer.from(String(error instanceof Error ? error.message : error)).subarray(
    0,
    ERROR_BYTES - 4,
  );
  errorText.set(text, slot * ERROR_BYTES + 4);
  new DataView(errorText.buffer).setInt32(slot * ERROR_BYTES, text.byteLength, true);
  status[slot] = STATUS_FAULT;
}

function runKernel(slot: number, index: number): void {
  const at = slot * SLOT_WORDS;
  const kernel = deviceKernels[index];
  try {
    if (kernel === undefined) throw new Error(`unknown kernel index ${index}`);
    kernel.run(resolve, slots.subarray(at + 1, at + SLOT_WORDS));
    status[slot] = STATUS_OK;
  } catch (error) {
    fault(slot, error);
  }
}

async function runMessageJob(slot: number): Promise<void> {
  // The description was posted before the job entered the ring; it is always there.
  const received = receiveMessageOnPort(port);
  try {
    if (received === undefined) throw new Error('the model job arrived without its description');
    modelDevice ??= await import('./dnn/device.js');
    await modelDevice.runModelJob(received.message, resolve);
    status[slot] = STATUS_OK;
  } catch (error) {
    fault(slot, error);
  }
}

async function serve(): Promise<void> {
  for (;;) {
    const done = Atomics.load(control, TAIL);
    while (Atomics.load(control, HEAD) === done) {
      if (Atomics.load(control, STOP) !== 0) process.exit(0);
      Atomics.wait(control, HEAD, done, 1000);
    }
    if (Atomics.load(control, STOP) !== 0) process.exit(0);
    const slot = done % RING;
    const index = slots[slot * SLOT_WORDS]!;
    // Started before the mark is read: a cancel that sees this leaves the job to run.
    Atomics.store(control, STARTED, done + 1);
    if (Atomics.exchange(cancel, slot, 0) !== 0) {
      // Its task was released before it started: as the board does, it never runs. A message
      // job still takes its description off the port, to keep the two in step.
      if (index === MESSAGE_JOB) receiveMessageOnPort(port);
      status[slot] = STATUS_CANCELLED;
    } else if (index === MESSAGE_JOB) {
      await runMessageJob(slot);
    } else {
      runKernel(slot, index);
    }
    Atomics.store(control, TAIL, done + 1);
    Atomics.notify(control, TAIL);
  }
}

void serve();
