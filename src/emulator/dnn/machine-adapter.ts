/**
 * The emulator's hbDNN reaches the machine through here only: the current machine (its
 * memory, sanitizer and in-flight jobs) and its BPU. One small seam, so that the machine's
 * owners can re-point it without touching the model code.
 */

import type { Bpu } from '../bpu.js';
import { currentBpu, currentMachine } from '../index.js';
import type { Machine } from '../machine.js';

export interface DnnMachine {
  readonly machine: Machine;
  readonly bpu: Bpu;
}

/** The machine in use now (a new one after `emulator.reset()`). */
export function dnnMachine(): DnnMachine {
  return { machine: currentMachine(), bpu: currentBpu() };
}
