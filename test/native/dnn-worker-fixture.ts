/**
 * Runs in a worker thread for dnn-tasks.test.ts: the native model API in a worker, where
 * hbDNNWaitTaskDone blocks this thread in C while the main thread's event loop runs on.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { hbDNNOut, hbDNNTaskHandle_t } from '../../src/dnn/types.js';
import { ctrl, free, freshStandin, loadModels, ok, tensorOf } from './dnn-harness.js';

const { file, model: name } = workerData as { file: string; model: string };
const s = freshStandin('C-1.24.5');
const { packed, handle } = loadModels(s, file);
const model = handle(name);
const input = tensorOf(s, model, 'input', 16);
const output = tensorOf(s, model, 'output', 16);
input.sysMem[0]!.virAddr!.set(new Uint8Array(16).map((_, i) => i));
const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
ok(s.api.hbDNNInfer(task, [output], [input], model, ctrl()));
const started = Date.now();
const code = s.api.hbDNNWaitTaskDone(task.value!, 0);
const blockedMs = Date.now() - started;
const out = [...output.sysMem[0]!.virAddr!];
ok(s.api.hbDNNReleaseTask(task.value!));
free(s, input.sysMem[0]!);
free(s, output.sysMem[0]!);
ok(s.api.hbDNNRelease(packed));
parentPort!.postMessage({ code, out, blockedMs });
