/**
 * Tasks of the native backend: opaque handles over libdnn's task pointers, the native blocks
 * each task keeps alive, and the three ways a task ends (wait, the promise, release).
 *
 * A task's blocks (its tensor arrays) are freed when libdnn reports the task complete, and
 * never before: libdnn may read them until then.
 *
 * `taskDone` uses koffi's asynchronous call: `hbDNNWaitTaskDone` runs on one of koffi's worker
 * threads, so the promise settles as soon as libdnn wakes the waiter, with no polling
 * interval and without blocking the event loop. Each such wait is bounded (CHUNK_MS) and
 * issued again while someone still waits, so no worker thread is held by a task nobody waits
 * for. hbDNNReleaseTask is never called while such a wait is in flight (C would free the task
 * under the waiting thread): the release is handed to libdnn when the wait returns.
 *
 * A task released before it completed is not cut short, unlike on the board: its release
 * reaches libdnn when it completes, because until then libdnn may read its tensor arrays.
 *
 * A task holds its tensors' memory until the program learns it completed (a wait) or until
 * libdnn has it released: hbSysFreeMem and hbSysUnregisterMem refuse held memory
 * ({@link TaskTable.heldBy}), since libdnn would go on using memory the system gave away.
 */

import {
  dnnFail,
  HB_DNN_API_USE_ERROR,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_SUCCESS,
  HB_DNN_TIMEOUT,
} from '../dnn/status.js';
import type { hbDNNTaskHandle_t } from '../dnn/types.js';
import { hex } from '../handle-errors.js';
import type { LibdnnDnn, NativeBlock } from './libdnn.js';

/** How long one asynchronous wait may hold a koffi worker thread. */
const CHUNK_MS = 50;

/**
 * - open: submitted with `more`; nothing runs until a call without it.
 * - running: submitted; not known to be complete.
 * - done: libdnn said it completed (status in `status`); its blocks are freed.
 * - releasing: released by the caller, not yet by libdnn (it is still running).
 * - released: libdnn released it.
 */
export type TaskPhase = 'open' | 'running' | 'done' | 'releasing' | 'released';

export interface TaskState {
  readonly handle: hbDNNTaskHandle_t;
  readonly kind: 'infer' | 'resize';
  /** libdnn's task handle. */
  readonly address: bigint;
  phase: TaskPhase;
  status: number;
  /** Models submitted in this task (more than one with `more`). */
  batched: number;
  readonly blocks: NativeBlock[];
  /** The packs whose models it runs: hbDNNRelease waits for none of them. */
  readonly packs: Set<object>;
  /** libdnn said it completed: nothing of C's reads its blocks any more. */
  completed: boolean;
  /** A koffi asynchronous wait is in flight. */
  asyncWait: boolean;
  readonly waiters: Array<(code: number) => void>;
  /** The memory of its tensors, for {@link TaskTable.heldBy}. */
  readonly tensors: TaskTensorMemory[];
}

/** One hbSysMem of a task's tensor. */
export interface TaskTensorMemory {
  readonly phyAddr: bigint;
  readonly size: number;
  readonly role: 'input' | 'output';
}

/** Records a failure that libdnn returned, with the library's words where it has them. */
export type LibraryFailure = (fn: string, code: number, what: string, hint: string) => number;

/** Codes of hbDNNWaitTaskDone that do not mean the task completed. */
const NOT_COMPLETE = new Set([
  HB_DNN_TIMEOUT,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_API_USE_ERROR,
]);

export class TaskTable {
  readonly #lib: LibdnnDnn;
  readonly #freeBlock: (block: NativeBlock) => void;
  readonly #libFail: LibraryFailure;
  readonly #byHandle = new WeakMap<object, TaskState>();
  /** Every task libdnn still holds (all phases but released). */
  readonly #held = new Set<TaskState>();

  readonly #makeHandle: () => hbDNNTaskHandle_t;

  constructor(
    lib: LibdnnDnn,
    freeBlock: (block: NativeBlock) => void,
    libFail: LibraryFailure,
    makeHandle: () => hbDNNTaskHandle_t,
  ) {
    this.#lib = lib;
    this.#freeBlock = freeBlock;
    this.#libFail = libFail;
    this.#makeHandle = makeHandle;
  }

  /** A new task over libdnn's `address`, holding `block` until it completes. */
  create(kind: TaskState['kind'], address: bigint, block: NativeBlock): TaskState {
    const handle = this.#makeHandle();
    const t: TaskState = {
      handle,
      kind,
      address,
      phase: 'running',
      status: HB_DNN_SUCCESS,
      batched: 0,
      blocks: [block],
      packs: new Set(),
      completed: false,
      asyncWait: false,
      waiters: [],
      tensors: [],
    };
    this.#byHandle.set(handle, t);
    this.#held.add(t);
    return t;
  }

  /** The task behind a caller's handle, or the code of a failure recorded for `fn`. */
  lookup(fn: string, handle: unknown): TaskState | number {
    const t =
      typeof handle === 'object' && handle !== null ? this.#byHandle.get(handle) : undefined;
    if (t === undefined) {
      return dnnFail(
        HB_DNN_INVALID_TASK_HANDLE,
        fn,
        'taskHandle is not a task made by hbDNNInfer or hbDNNResize: pass the value those ' +
          'calls set (a handle cannot be made from a number or copied)',
      );
    }
    if (t.phase === 'releasing' || t.phase === 'released') {
      return dnnFail(
        HB_DNN_INVALID_TASK_HANDLE,
        fn,
        'taskHandle was released with hbDNNReleaseTask: a task is released once, and not used after',
      );
    }
    return t;
  }

  /** Tasks of `kind` libdnn holds, and how many of them were released but still run. */
  held(kind: TaskState['kind']): { readonly total: number; readonly finishing: number } {
    let total = 0;
    let finishing = 0;
    for (const t of this.#held) {
      if (t.kind !== kind) continue;
      total++;
      if (t.phase === 'releasing') finishing++;
    }
    return { total, finishing };
  }

  /** Tasks libdnn holds that run models of `pack`, and how many of them were released. */
  ofPack(pack: object): { readonly total: number; readonly finishing: number } {
    let total = 0;
    let finishing = 0;
    for (const t of this.#held) {
      if (!t.packs.has(pack)) continue;
      total++;
      if (t.phase === 'releasing') finishing++;
    }
    return { total, finishing };
  }

  /**
   * Why `[phyAddr, phyAddr + size)` may not be freed or unregistered: a task libdnn holds
   * that the program has not seen complete uses it. Undefined when none does.
   */
  heldBy(phyAddr: bigint, size: number): string | undefined {
    const end = phyAddr + BigInt(size);
    for (const t of this.#held) {
      if (t.phase === 'done') continue;
      const r = t.tensors.find((x) => x.phyAddr < end && phyAddr < x.phyAddr + BigInt(x.size));
      if (r === undefined) continue;
      const what =
        `[0x${hex(phyAddr)}, 0x${hex(end)}) holds an ${r.role} of a ${t.kind === 'resize' ? 'resize' : 'model'} ` +
        `task ([0x${hex(r.phyAddr)}, 0x${hex(r.phyAddr + BigInt(r.size))}))`;
      if (t.phase === 'open') {
        return (
          `${what} that is still open (its last hbDNNInfer had inferCtrlParam.more = 1): ` +
          'submit it (more = 0) and wait for it with hbDNNWaitTaskDone, or release it with ' +
          'hbDNNReleaseTask, first'
        );
      }
      if (t.phase === 'releasing') {
        return (
          `${what} released before it completed, which libdnn is still running: try again ` +
          'once it has ended (and wait for a task with hbDNNWaitTaskDone before releasing it)'
        );
      }
      return (
        `${what} that has not completed as far as the program knows: wait for it with ` +
        'hbDNNWaitTaskDone (or await hbDNNWaitTaskDoneAsync), or release it with ' +
        'hbDNNReleaseTask, first'
      );
    }
    return undefined;
  }

  /** `hbDNNWaitTaskDone`: blocks this thread in libdnn. */
  wait(fn: string, t: TaskState, timeoutMs: number): number {
    if (t.phase === 'open') return failOpen(fn);
    if (t.phase === 'done') return this.#report(fn, t.status);
    const code = this.#lib.hbDNNWaitTaskDone(t.address, timeoutMs);
    if (!NOT_COMPLETE.has(code)) this.#complete(t, code);
    if (code === HB_DNN_TIMEOUT) {
      return dnnFail(
        code,
        fn,
        `the task did not complete within ${timeoutMs} ms: wait again, or with a timeout of 0 ` +
          '(or less) to wait until it completes',
      );
    }
    return this.#report(fn, code);
  }

  /** Settles with the task's status when it completes; never rejects. */
  done(fn: string, t: TaskState): Promise<number> {
    if (t.phase === 'open') return Promise.resolve(failOpen(fn));
    if (t.phase === 'done') return Promise.resolve(this.#report(fn, t.status));
    return new Promise((resolve) => {
      t.waiters.push((code) => resolve(this.#report(fn, code)));
      this.#watch(t);
    });
  }

  /** `hbDNNReleaseTask`. */
  release(fn: string, t: TaskState): number {
    const waiters = t.waiters.splice(0);
    if (t.phase === 'running' || t.asyncWait) {
      // libdnn may still read the tensor arrays, or a worker thread waits on the task in C.
      t.phase = 'releasing';
      this.#watch(t);
    } else {
      const code = this.#lib.hbDNNReleaseTask(t.address);
      if (code !== HB_DNN_SUCCESS) {
        t.waiters.push(...waiters);
        return this.#libFail(
          fn,
          code,
          'release the task',
          'the task is still held: wait for it with hbDNNWaitTaskDone, then release it again',
        );
      }
      this.#retire(t);
    }
    for (const w of waiters) w(HB_DNN_INVALID_TASK_HANDLE);
    return HB_DNN_SUCCESS;
  }

  /** The task completed with `code`: its blocks go back, its promises settle. */
  #complete(t: TaskState, code: number): void {
    if (t.completed) return;
    t.completed = true;
    if (t.phase === 'running') t.phase = 'done';
    t.status = code;
    for (const block of t.blocks.splice(0)) this.#freeBlock(block);
    for (const w of t.waiters.splice(0)) w(code);
  }

  #retire(t: TaskState): void {
    t.phase = 'released';
    for (const block of t.blocks.splice(0)) this.#freeBlock(block);
    this.#held.delete(t);
  }

  /** Keeps one asynchronous wait in flight while someone waits or a release is pending. */
  #watch(t: TaskState): void {
    if (t.asyncWait) return;
    t.asyncWait = true;
    this.#lib.hbDNNWaitTaskDoneAsync(t.address, CHUNK_MS, (code) => {
      t.asyncWait = false;
      if (!NOT_COMPLETE.has(code)) this.#complete(t, code);
      if (t.phase === 'releasing' && (t.completed || code === HB_DNN_INVALID_TASK_HANDLE)) {
        // Nothing of C's reads this task any more: the release the caller asked for, now.
        this.#lib.hbDNNReleaseTask(t.address);
        this.#retire(t);
      } else if (t.phase === 'releasing' || (t.phase === 'running' && t.waiters.length > 0)) {
        this.#watch(t);
      }
    });
  }

  /** `code` as the caller sees it: 0, or a failure recorded with what it means. */
  #report(fn: string, code: number): number {
    if (code === HB_DNN_SUCCESS) return code;
    if (code === HB_DNN_INVALID_TASK_HANDLE) {
      return dnnFail(
        code,
        fn,
        'the task was released with hbDNNReleaseTask before it completed, so it has no result: ' +
          'wait for a task (hbDNNWaitTaskDone or its promise) before releasing it',
      );
    }
    return this.#libFail(
      fn,
      code,
      'run the task',
      'its outputs hold no result; check the model and its tensors',
    );
  }
}

function failOpen(fn: string): number {
  return dnnFail(
    HB_DNN_API_USE_ERROR,
    fn,
    'the task was submitted with inferCtrlParam.more set, and nothing runs until an ' +
      'hbDNNInfer with more = 0 closes it: submit the last model of the batch first',
  );
}
