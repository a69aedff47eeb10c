/**
 * Runs in a worker thread for dnn-tasks.test.ts: the native model API in a worker, where
 * hbDNNWaitTaskDone blocks this thread in C while the main thread's event loop runs on.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type {
  hbDNNHandle_t,
  hbDNNOut,
  hbDNNTaskHandle_t,
  hbDNNTensor,
  hbDNNTensorProperties,
  hbPackedDNNHandle_t,
} from '../../src/dnn/types.js';
import { alloc, ctrl, free, freshStandin, ok } from './dnn-harness.js';

const { file, model: name } = workerData as { file: string; model: string };
const s = freshStandin('C-1.24.5');
const packed: hbDNNOut<hbPackedDNNHandle_t> = {};
ok(s.api.hbDNNInitializeFromFiles(packed, [file], 1));
const model: hbDNNOut<hbDNNHandle_t> = {};
ok(s.api.hbDNNGetModelHandle(model, packed.value!, name));
const props = (side: 'input' | 'output') => {
  const p: Partial<hbDNNTensorProperties> = {};
  const get =
    side === 'input' ? s.api.hbDNNGetInputTensorProperties : s.api.hbDNNGetOutputTensorProperties;
  ok(get(p, model.value!, 0));
  return p as hbDNNTensorProperties;
};
const input: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props('input') };
const output: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props('output') };
input.sysMem[0]!.virAddr!.set(new Uint8Array(16).map((_, i) => i));
const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
ok(s.api.hbDNNInfer(task, [output], [input], model.value!, ctrl()));
const started = Date.now();
const code = s.api.hbDNNWaitTaskDone(task.value!, 0);
const blockedMs = Date.now() - started;
const out = [...output.sysMem[0]!.virAddr!];
ok(s.api.hbDNNReleaseTask(task.value!));
free(s, input.sysMem[0]!);
free(s, output.sysMem[0]!);
ok(s.api.hbDNNRelease(packed.value!));
parentPort!.postMessage({ code, out, blockedMs });
