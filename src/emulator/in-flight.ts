/**
 * The BPU jobs in flight, as the sanitizer's in-flight checks see them: this thread's (the
 * objects its BPU submitted, with their input snapshots) and every other thread's (their
 * ranges, from the board's shared table, shared-ranges.ts). It has the surface of the Set
 * it replaces (add, delete, has, iteration), so the checks read one collection whatever
 * thread the job came from: a CPU write in one thread to the input of another thread's job
 * in flight is found as within one thread.
 */

import { threadId } from 'node:worker_threads';
import type { Board } from './board.js';
import type { InFlightJob } from './machine.js';
import { SharedRanges } from './shared-ranges.js';

const OUTPUT = 1;
/** Which text separates a job's name from what its program calls to complete it. */
const SEPARATOR = '\n';

/** Another thread's job, rebuilt from the shared table (its key tells `has` where to look). */
interface RemoteJob extends InFlightJob {
  readonly thread: number;
  readonly key: number;
}

export class InFlightJobs implements Iterable<InFlightJob> {
  private readonly local = new Set<InFlightJob>();
  /** This thread's jobs' keys in the shared table (absent: kept to this thread). */
  private readonly keys = new Map<InFlightJob, number>();
  private readonly board: () => Board;
  private table: SharedRanges | undefined;
  private nextKey = 1;
  /** Rows this thread has in the table: when every live row is ours, nothing to read. */
  private ownRows = 0;
  private readonly rowsOf = new Map<number, number>();

  /** `board` is read on first use (the machine makes it after this). */
  constructor(board: () => Board) {
    this.board = board;
  }

  private shared(): SharedRanges {
    // A thread that ends leaves no jobs for the others' checks to trip on (Bpu.threadEnded).
    this.table ??= new SharedRanges(this.board().share.inFlight);
    return this.table;
  }

  add(job: InFlightJob): this {
    if (this.local.has(job)) return this;
    this.local.add(job);
    const key = this.nextKey++;
    const outputs = job.outputs ?? [];
    const ranges = job.ranges.map((r) => ({
      phyAddr: r.phyAddr,
      size: r.size,
      flags: outputs.some((o) => o.phyAddr === r.phyAddr && o.size === r.size) ? OUTPUT : 0,
    }));
    const text = `${job.kernel}${SEPARATOR}${job.completion ?? ''}`;
    this.board().locked(() => {
      if (this.shared().add(threadId, key, job.id, ranges, text)) {
        this.keys.set(job, key);
        this.rowsOf.set(key, ranges.length);
        this.ownRows += ranges.length;
      }
    });
    return this;
  }

  delete(job: InFlightJob): boolean {
    if (!this.local.delete(job)) return false;
    const key = this.keys.get(job);
    if (key !== undefined) {
      this.keys.delete(job);
      this.ownRows -= this.rowsOf.get(key) ?? 0;
      this.rowsOf.delete(key);
      this.board().locked(() => this.shared().remove(threadId, key));
    }
    return true;
  }

  has(job: InFlightJob): boolean {
    if (this.local.has(job)) return true;
    const remote = job as Partial<RemoteJob>;
    if (remote.thread === undefined || remote.key === undefined) return false;
    return this.board().locked(() => this.shared().has(remote.thread!, remote.key!));
  }

  /**
   * Whether any thread has a job in flight: two reads, so that the checks of every flush
   * and free skip the iteration (a generator, costly on the hot path) when none has.
   */
  get any(): boolean {
    return this.local.size > 0 || this.shared().live !== this.ownRows;
  }

  /** This thread's jobs in flight. */
  get size(): number {
    return this.local.size;
  }

  *[Symbol.iterator](): Iterator<InFlightJob> {
    yield* this.local;
    const table = this.shared();
    if (table.live === this.ownRows) return;
    yield* this.others();
  }

  /** Other threads' jobs in flight, read under the lock. */
  private others(): RemoteJob[] {
    const rows = this.board().locked(() => this.shared().others(threadId));
    const jobs = new Map<string, RemoteJob>();
    for (const r of rows) {
      const k = `${r.thread}:${r.key}`;
      let job = jobs.get(k);
      if (job === undefined) {
        const [kernel, completion] = r.text.split(SEPARATOR) as [string, string | undefined];
        job = {
          thread: r.thread,
          key: r.key,
          id: r.id,
          kernel: `${kernel} (thread ${r.thread})`,
          ranges: [],
          outputs: [],
          completion:
            completion === undefined || completion === ''
              ? undefined
              : `${completion} in thread ${r.thread}`,
        };
        jobs.set(k, job);
      }
      const range = { phyAddr: r.phyAddr, size: r.size };
      (job.ranges as { phyAddr: number; size: number }[]).push(range);
      if ((r.flags & OUTPUT) !== 0) {
        (job.outputs as { phyAddr: number; size: number }[]).push(range);
      }
    }
    return [...jobs.values()];
  }
}
