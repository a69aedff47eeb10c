/**
 * Tasks: what hbDNNInfer and hbDNNResize submit, hbDNNWaitTaskDone waits for and
 * hbDNNReleaseTask ends.
 *
 * - A task is one BPU job. With `more`, hbDNNInfer appends models to an open task (up to
 *   255) and nothing runs until the call with `more = 0` submits them all as one job.
 * - At most 32 model tasks and 32 resize tasks are live (submitted or open, not released).
 * - For the sanitizer a task is in flight from submission until hbDNNWaitTaskDone (or the
 *   promise of `taskDone`) reports it complete, however fast the emulated BPU was: so a CPU
 *   read of its output, or a write of its input, before the wait is found every time. The
 *   task is an entry of the machine's in-flight jobs that says which ranges it writes.
 * - Model tasks and the other BPU jobs (kernels, DMA, resize) share the BPU's one queue, in
 *   submission order, as on the board.
 * - A task holds its tensors' memory from hbDNNInfer until the program learns it completed
 *   (hbDNNWaitTaskDone) or releases it; a task released while its job runs holds it until
 *   the job ends (the BPU does not stop mid-job). hbSysFreeMem and hbSysUnregisterMem refuse
 *   held memory, through the machine's `memoryHolder`: on the board, libdnn would go on
 *   reading or writing memory the system has handed to someone else. The held ranges are
 *   also in the board's shared table (shared-ranges.ts), so that another thread's free or
 *   unregister of them is refused too.
 * - Task, model and job numbers are process-wide (the BPU's id counter): "model task #7"
 *   names one task whichever thread reads it.
 * - Handles stay in the thread that made them: a task (or a pack, or a model handle) posted
 *   to another thread arrives there as a plain copy, which no table of that thread knows.
 */

import { threadId } from 'node:worker_threads';
import type { InferCtrlSnapshot, TensorSnapshot } from '../../dnn/backend.js';
import {
  dnnFail,
  HB_DNN_API_USE_ERROR,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_RUN_TASK_FAILED,
  HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TIMEOUT,
} from '../../dnn/status.js';
import {
  HB_DNN_MAX_BATCHED_MODELS,
  HB_DNN_MAX_LIVE_TASKS,
  type hbDNNTaskHandle_t,
} from '../../dnn/types.js';
import { hex } from '../../handle-errors.js';
import type { DeviceJob, DeviceWrite, JobOutcome } from '../bpu.js';
import { MESSAGE_JOB } from '../bpu-queue.js';
import type { LiveTask } from '../hazards.js';
import type { DeviceRange, JobPlan } from '../kernels/kernel.js';
import type { InFlightJob, Machine } from '../machine.js';
import { captureStack } from '../sanitizer.js';
import { SharedRanges } from '../shared-ranges.js';
import { HandleTable } from './handles.js';
import { HELD_OPEN, HELD_OUTPUT, HELD_RELEASED } from './held-memory.js';
import { dnnMachine } from './machine-adapter.js';
import type { InferMessage, InputFeed, ModelRun, OutputSink } from './messages.js';
import type { ModelInterface } from './model-file.js';
import type { ResizePlan } from './resize.js';
import { type CheckedTensor, checkTensor, type TensorMemory } from './tensors.js';

/** A loaded model. */
export interface ModelRecord {
  readonly id: number;
  readonly machine: Machine;
  readonly iface: ModelInterface;
  released: boolean;
  /** Live tasks that run it: hbDNNRelease waits for none. */
  liveTasks: number;
  /**
   * Its tasks released before they completed whose job the BPU is still running: the model
   * is in use until they end (as libdnn holds such a task on the native backend).
   */
  finishingTasks: number;
  handle?: ReturnType<HandleTable<object, unknown>['make']>;
}

type Kind = 'model' | 'resize';

interface TaskRecord {
  readonly id: number;
  readonly machine: Machine;
  readonly kind: Kind;
  readonly handle: hbDNNTaskHandle_t;
  state: 'open' | 'submitted' | 'done' | 'released';
  readonly runs: ModelRun[];
  readonly models: ModelRecord[];
  readonly reads: TensorMemory[];
  readonly writes: TensorMemory[];
  job: DeviceJob | undefined;
  /** 0, or the code of a failed run, once complete. */
  status: number | undefined;
  failure: string | undefined;
  /** Set while a task released before it completed waits for its job's end (see end()). */
  finished?: () => void;
  entry: InFlightJob | undefined;
  live: LiveTask;
  /** Dirty input lines at submission (sanitizer): those are reported at submission. */
  dirtyAtSubmit: Set<number>[];
}

export class Tasks {
  private readonly table = new HandleTable<hbDNNTaskHandle_t, TaskRecord>('hbDNNTaskHandle_t');
  /** Live tasks per machine and kind, with those released while their job still runs. */
  private readonly counts = new WeakMap<Machine, Record<Kind, number>>();
  /** Tasks that hold their tensors' memory, per machine (see the module's note). */
  private readonly holding = new WeakMap<Machine, Set<TaskRecord>>();

  /** The board's table of held ranges, every thread's, per machine. */
  private readonly sharedHeld = new WeakMap<Machine, SharedRanges>();

  private holders(machine: Machine): Set<TaskRecord> {
    let set = this.holding.get(machine);
    if (set === undefined) {
      const tasks = new Set<TaskRecord>();
      set = tasks;
      this.holding.set(machine, tasks);
      // Called under the lock (by free and unregister): this thread's tasks first, whose
      // messages say more, then the other threads' (installed with the machine).
      const others = machine.memoryHolder;
      machine.memoryHolder = (phyAddr, size) =>
        heldBy(tasks, phyAddr, size) ?? others?.(phyAddr, size);
    }
    return set;
  }

  private heldTable(machine: Machine): SharedRanges {
    let table = this.sharedHeld.get(machine);
    if (table === undefined) {
      // A thread that ends can release no task: its tasks hold nothing once it is known to
      // have ended (Bpu.threadEnded).
      table = new SharedRanges(machine.board.share.held);
      this.sharedHeld.set(machine, table);
    }
    return table;
  }

  /**
   * Writes what `t` holds now into the shared table (nothing once it holds nothing), for the
   * other threads' free and unregister. Under the lock.
   */
  private publish(t: TaskRecord): void {
    const table = this.heldTable(t.machine);
    t.machine.board.locked(() => {
      table.remove(threadId, t.id);
      if (!this.holders(t.machine).has(t)) return;
      const state = t.state === 'open' ? HELD_OPEN : t.state === 'released' ? HELD_RELEASED : 0;
      const ranges = [
        ...t.reads.map((r) => ({ phyAddr: r.phyAddr, size: r.size, flags: state })),
        ...t.writes.map((w) => ({ phyAddr: w.phyAddr, size: w.size, flags: state | HELD_OUTPUT })),
      ];
      // A full table keeps the task's ranges to this thread (the table holds 65536).
      if (ranges.length > 0) table.add(threadId, t.id, t.id, ranges, describe(t));
    });
  }

  private count(machine: Machine): Record<Kind, number> {
    let c = this.counts.get(machine);
    if (c === undefined) {
      c = { model: 0, resize: 0 };
      this.counts.set(machine, c);
    }
    return c;
  }

  /** The live task `handle` stands for, or the failure's code. */
  private task(fn: string, handle: unknown): TaskRecord | number {
    const t = this.table.get(handle);
    const why =
      t === undefined
        ? 'is not a task that hbDNNInfer or hbDNNResize made (pass task.value; a task made in ' +
          'another thread is not one here: tasks stay in the thread that made them)'
        : t.machine !== dnnMachine().machine
          ? 'was made before emulator.reset()'
          : t.state === 'released'
            ? 'was already released with hbDNNReleaseTask; set task.value = null before the next hbDNNInfer'
            : undefined;
    return why === undefined ? t! : dnnFail(HB_DNN_INVALID_TASK_HANDLE, fn, `the task ${why}`);
  }

  infer(
    taskHandle: hbDNNTaskHandle_t | null,
    output: readonly TensorSnapshot[],
    input: readonly TensorSnapshot[],
    model: ModelRecord,
    ctrl: InferCtrlSnapshot,
  ): { code: 0; value: hbDNNTaskHandle_t } | { code: number } {
    const fn = 'hbDNNInfer';
    const { machine } = dnnMachine();
    let open: TaskRecord | undefined;
    if (taskHandle !== null) {
      const t = this.task(fn, taskHandle);
      if (typeof t === 'number') return { code: t };
      if (t.state !== 'open' || t.kind !== 'model') {
        return {
          code: dnnFail(
            HB_DNN_API_USE_ERROR,
            fn,
            'task.value must be null on entry, unless it holds a task whose last hbDNNInfer had ' +
              'inferCtrlParam.more = 1: set task.value = null for a new task',
          ),
        };
      }
      open = t;
    }
    const iface = model.iface;
    for (const [list, want, kind] of [
      [input, iface.inputs.length, 'input'],
      [output, iface.outputs.length, 'output'],
    ] as const) {
      if (list.length !== want) {
        return {
          code: dnnFail(
            HB_DNN_INVALID_ARGUMENT,
            fn,
            `model '${iface.name}' has ${want} ${kind}(s) (hbDNNGet${kind === 'input' ? 'Input' : 'Output'}Count), ` +
              `but ${list.length} ${kind} tensor(s) were passed: pass one tensor per ${kind}, ` +
              "in the model's order",
          ),
        };
      }
    }
    const checkedIn: CheckedTensor[] = [];
    for (const [i, t] of input.entries()) {
      const which = `input[${i}] ('${iface.inputs[i]!.name}') of model '${iface.name}'`;
      const c = checkTensor(machine, fn, which, t, iface.inputs[i]!.properties, 'input');
      if (typeof c === 'number') return { code: c };
      checkedIn.push(c);
    }
    const checkedOut: CheckedTensor[] = [];
    for (const [i, t] of output.entries()) {
      const which = `output[${i}] ('${iface.outputs[i]!.name}') of model '${iface.name}'`;
      const c = checkTensor(machine, fn, which, t, iface.outputs[i]!.properties, 'output');
      if (typeof c === 'number') return { code: c };
      checkedOut.push(c);
    }
    if (open === undefined) {
      const limit = this.limit(fn, machine, 'model');
      if (limit !== 0) return { code: limit };
    } else if (open.runs.length >= HB_DNN_MAX_BATCHED_MODELS) {
      return {
        code: dnnFail(
          HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
          fn,
          `the task already batches ${open.runs.length} models, the board's limit: submit it ` +
            '(inferCtrlParam.more = 0) and start another',
        ),
      };
    }
    const run: ModelRun = {
      model: model.id,
      inputs: iface.inputs.map((x, i): InputFeed => {
        const c = checkedIn[i]!;
        const mem = c.memory[0]!;
        return x.stage === undefined
          ? {
              name: x.name,
              type: x.ort,
              dims: x.dims,
              kind: 'featuremap',
              phyAddr: mem.phyAddr,
              size: mem.size,
            }
          : {
              name: x.name,
              type: x.ort,
              dims: x.dims,
              kind: 'image',
              stage: x.stage,
              phyAddr: mem.phyAddr,
              uvPhyAddr: c.memory[1]?.phyAddr ?? 0,
              stride: c.stride,
              size: mem.size,
            };
      }),
      outputs: iface.outputs.map(
        (x, i): OutputSink => ({
          name: x.name,
          type: x.ort,
          dims: x.dims,
          phyAddr: checkedOut[i]!.memory[0]!.phyAddr,
          size: x.bytes,
        }),
      ),
    };
    const reads = checkedIn.flatMap((c) => c.memory);
    const writes = checkedOut.map((c) => ({ ...c.memory[0]!, size: c.memory[0]!.size }));
    const all =
      open === undefined
        ? { reads, writes }
        : { reads: [...open.reads, ...reads], writes: [...open.writes, ...writes] };
    if (ctrl.more) {
      // Nothing runs until the call with more = 0; the device checks happen then.
      const t = open ?? this.newTask(machine, 'model');
      t.runs.push(run);
      t.reads.push(...reads);
      t.writes.push(...writes);
      if (!t.models.includes(model)) {
        t.models.push(model);
        model.liveTasks++;
      }
      this.publish(t);
      return { code: 0, value: t.handle };
    }
    // Checks of the device's accesses, which throw in throw mode before anything changes.
    this.deviceChecks(machine, describeRuns(open, model), all.reads, all.writes);
    const t = open ?? this.newTask(machine, 'model');
    t.runs.push(run);
    t.reads.push(...reads);
    t.writes.push(...writes);
    if (!t.models.includes(model)) {
      t.models.push(model);
      model.liveTasks++;
    }
    const message: InferMessage = { op: 'infer', runs: t.runs };
    this.submit(t, MESSAGE_JOB, message);
    this.publish(t);
    return { code: 0, value: t.handle };
  }

  /** Submits a checked hbDNNResize job as a task. */
  resize(plan: ResizePlan): { code: 0; value: hbDNNTaskHandle_t } | { code: number } {
    const fn = 'hbDNNResize';
    const { machine } = dnnMachine();
    const limit = this.limit(fn, machine, 'resize');
    if (limit !== 0) return { code: limit };
    this.deviceChecks(machine, 'hbDNNResize', plan.reads, plan.writes);
    const t = this.newTask(machine, 'resize');
    t.reads.push(...plan.reads);
    t.writes.push(...plan.writes);
    this.submit(t, plan.kernelIndex, undefined, plan.job);
    this.publish(t);
    return { code: 0, value: t.handle };
  }

  wait(handle: hbDNNTaskHandle_t, timeoutMs: number): number {
    const fn = 'hbDNNWaitTaskDone';
    const t = this.task(fn, handle);
    if (typeof t === 'number') return t;
    if (t.state === 'open') return notSubmitted(fn);
    if (t.state === 'submitted') {
      if (dnnMachine().bpu.waitFor(t.job!, timeoutMs) === 'timeout') {
        return dnnFail(
          HB_DNN_TIMEOUT,
          fn,
          `${describe(t)} did not complete within ${timeoutMs} ms; it goes on: wait again (a ` +
            'timeout of 0 waits until it is done), or release it',
        );
      }
      t.machine.board.locked(() => this.complete(t));
    }
    return t.status === 0 ? 0 : dnnFail(t.status!, fn, t.failure!);
  }

  /** Resolves with the task's status when it completes, as a wait would; never rejects. */
  async done(handle: hbDNNTaskHandle_t): Promise<number> {
    const fn = 'hbDNNWaitTaskDone';
    const t = this.task(fn, handle);
    if (typeof t === 'number') return t;
    if (t.state === 'open') return notSubmitted(fn);
    if (t.state === 'submitted') {
      await t.job!.done.catch(() => {});
      if (t.state !== 'submitted') return this.done(handle);
      t.machine.board.locked(() => this.complete(t));
    }
    return t.status === 0 ? 0 : dnnFail(t.status!, fn, t.failure!);
  }

  release(handle: hbDNNTaskHandle_t): number {
    const fn = 'hbDNNReleaseTask';
    const t = this.task(fn, handle);
    if (typeof t === 'number') return t;
    if (t.state === 'submitted' && t.machine.sanitizer.on) {
      const first = t.writes[0] ?? t.reads[0];
      t.machine.hazards.taskReleasedEarly(describe(t), first?.phyAddr ?? 0, first?.size ?? 0);
    }
    this.end(t);
    return 0;
  }

  /** Ends a task the caller never received (its out-parameter could not be written). */
  discard(handle: hbDNNTaskHandle_t): void {
    const t = this.table.get(handle);
    if (t !== undefined && t.state !== 'released') this.end(t);
  }

  private end(t: TaskRecord): void {
    const holders = this.holders(t.machine);
    holders.delete(t);
    const counts = this.count(t.machine);
    let finishing = false;
    if (t.state === 'submitted') {
      const job = t.job!;
      // A job the BPU has started runs to its end: its memory stays held until then, and
      // the task counts against the live-task limit until then, as libdnn counts a task it
      // still runs (the native backend hands it the release only at the task's end).
      if (!dnnMachine().bpu.cancel(job) && job.outcome === undefined) {
        finishing = true;
        holders.add(t);
        for (const m of t.models) m.finishingTasks++;
        t.finished = () => {
          t.finished = undefined;
          holders.delete(t);
          counts[t.kind]--;
          for (const m of t.models) m.finishingTasks--;
          this.publish(t);
        };
      }
      if (t.entry !== undefined) t.machine.inFlight.delete(t.entry);
    }
    t.state = 'released';
    if (!finishing) counts[t.kind]--;
    for (const m of t.models) m.liveTasks--;
    t.machine.hazards.liveTasks.delete(t.live);
    this.publish(t);
  }

  private limit(fn: string, machine: Machine, kind: Kind): number {
    if (this.count(machine)[kind] < HB_DNN_MAX_LIVE_TASKS) return 0;
    if (machine.sanitizer.on) machine.hazards.taskLimit(fn, HB_DNN_MAX_LIVE_TASKS, kind);
    let finishing = 0;
    for (const t of this.holders(machine))
      if (t.kind === kind && t.state === 'released') finishing++;
    return dnnFail(
      HB_DNN_TASK_NUM_EXCEED_LIMIT,
      fn,
      `${HB_DNN_MAX_LIVE_TASKS} ${kind} tasks are live, the board's limit` +
        (finishing > 0
          ? ` (${finishing} released but still running: they count until they end)`
          : '') +
        ': release finished tasks with hbDNNReleaseTask (is one leaking in a loop?)',
    );
  }

  private newTask(machine: Machine, kind: Kind): TaskRecord {
    const id = dnnMachine().bpu.nextId();
    const record = {
      id,
      machine,
      kind,
      state: 'open',
      runs: [],
      models: [],
      reads: [],
      writes: [],
      job: undefined,
      status: undefined,
      failure: undefined,
      entry: undefined,
      dirtyAtSubmit: [],
    } as unknown as TaskRecord;
    (record as { handle: hbDNNTaskHandle_t }).handle = this.table.make(record);
    record.live = {
      get what() {
        return describe(record);
      },
      get phyAddr() {
        return (record.writes[0] ?? record.reads[0])?.phyAddr ?? 0;
      },
      get size() {
        return (record.writes[0] ?? record.reads[0])?.size ?? 0;
      },
      stack: machine.sanitizer.stacks ? captureStack() : undefined,
    };
    this.count(machine)[kind]++;
    machine.hazards.liveTasks.add(record.live);
    this.holders(machine).add(record);
    return record;
  }

  private deviceChecks(
    machine: Machine,
    where: string,
    reads: TensorMemory[],
    writes: TensorMemory[],
  ) {
    if (!machine.sanitizer.on) return;
    for (const r of reads) machine.hazards.deviceRead(where, 'input', r.region, r.offset, r.size);
    for (const w of writes)
      machine.hazards.deviceWrite(where, 'output', w.region, w.offset, w.size);
  }

  private submit(t: TaskRecord, kernelIndex: number, message: unknown, plan?: JobPlan): void {
    const { machine, bpu } = dnnMachine();
    const range = (m: TensorMemory, role: string): DeviceRange => ({
      phyAddr: BigInt(m.phyAddr),
      size: m.size,
      role,
    });
    const jobPlan: JobPlan = plan ?? {
      reads: t.reads.map((r) => range(r, 'input')),
      writes: t.writes.map((w) => range(w, 'output')),
      params: [],
      bytes: [...t.reads, ...t.writes].reduce((n, x) => n + x.size, 0),
    };
    if (machine.sanitizer.on && machine.strict) {
      t.dirtyAtSubmit = t.reads.map(
        (r) => new Set(machine.sanitizer.dirty(r.region, r.offset, r.size)),
      );
    }
    const writes: DeviceWrite[] = t.writes.map((w) => ({
      region: w.region,
      offset: w.offset,
      size: w.size,
    }));
    for (const w of writes) machine.deviceWillWrite(w.region, w.offset, w.size);
    const what = describe(t);
    t.job = bpu.submitJob({
      kernelIndex,
      plan: jobPlan,
      where: what,
      writes,
      message,
      onSettle: (o: JobOutcome) => {
        if (o.state !== 'ok') t.failure = o.message;
        // Synchronous, unlike the job's promise: a blocking wait on a later task settles this
        // job as it drains the BPU's completions, with no event loop turn in between, and a
        // task released early must stop holding its model and memory right then.
        t.finished?.();
      },
      completion: 'hbDNNWaitTaskDone on its task',
    });
    t.entry = {
      id: t.job.id,
      kernel: what,
      ranges: [...t.reads, ...t.writes].map((x) => ({ phyAddr: x.phyAddr, size: x.size })),
      outputs: t.writes.map((x) => ({ phyAddr: x.phyAddr, size: x.size })),
      completion: 'hbDNNWaitTaskDone on its task',
    };
    machine.inFlight.add(t.entry);
    t.state = 'submitted';
  }

  /** The program learns that the task completed: it is no longer in flight. */
  private complete(t: TaskRecord): void {
    const o = t.job!.outcome!;
    t.state = 'done';
    this.holders(t.machine).delete(t);
    this.publish(t);
    if (t.entry !== undefined) t.machine.inFlight.delete(t.entry);
    if (o.state === 'ok') {
      t.status = 0;
      if (t.machine.sanitizer.on && t.machine.strict) {
        for (const [i, r] of t.reads.entries()) {
          t.machine.hazards.taskInputWritten(
            describe(t),
            r.region,
            r.offset,
            r.size,
            t.dirtyAtSubmit[i] ?? new Set(),
          );
        }
      }
    } else {
      t.status = HB_DNN_RUN_TASK_FAILED;
      t.failure = `${describe(t)} failed on the BPU: ${o.message.replace(/^.*?the job faulted on the BPU: /, '')}`;
    }
  }
}

/** Why `[phyAddr, phyAddr + size)` may not be freed or unregistered, if a task holds it. */
function heldBy(tasks: Set<TaskRecord>, phyAddr: number, size: number): string | undefined {
  const end = phyAddr + size;
  for (const t of tasks) {
    for (const [list, role] of [
      [t.reads, 'an input'],
      [t.writes, 'an output'],
    ] as const) {
      const r = list.find((x) => x.phyAddr < end && phyAddr < x.phyAddr + x.size);
      if (r === undefined) continue;
      const what =
        `[0x${hex(phyAddr)}, 0x${hex(end)}) holds ${role} of ${describe(t)} ` +
        `([0x${hex(r.phyAddr)}, 0x${hex(r.phyAddr + r.size)}))`;
      if (t.state === 'open') {
        return (
          `${what}, a task still open (its last hbDNNInfer had inferCtrlParam.more = 1): ` +
          'submit it (more = 0) and wait for it with hbDNNWaitTaskDone, or release it with ' +
          'hbDNNReleaseTask, first'
        );
      }
      if (t.state === 'released') {
        return (
          `${what}, released before it completed while the BPU was running it: a started ` +
          'job runs to its end, so try again once it has (and wait for a task with ' +
          'hbDNNWaitTaskDone before releasing it)'
        );
      }
      return (
        `${what}, which has not completed as far as the program knows: wait for it with ` +
        'hbDNNWaitTaskDone (or await hbDNNWaitTaskDoneAsync), or release it with ' +
        'hbDNNReleaseTask, first'
      );
    }
  }
  return undefined;
}

function notSubmitted(fn: string): number {
  return dnnFail(
    HB_DNN_API_USE_ERROR,
    fn,
    'the task is still open (its last hbDNNInfer had inferCtrlParam.more = 1), so nothing of it ' +
      'runs yet: submit its last model with more = 0, then wait',
  );
}

function describe(t: TaskRecord): string {
  if (t.kind === 'resize') return `resize task #${t.id}`;
  const names = t.models.map((m) => `'${m.iface.name}'`);
  return `model task #${t.id} (model${names.length === 1 ? '' : 's'} ${names.join(', ')})`;
}

function describeRuns(open: TaskRecord | undefined, model: ModelRecord): string {
  return open === undefined ? `hbDNNInfer (model '${model.iface.name}')` : describe(open);
}
