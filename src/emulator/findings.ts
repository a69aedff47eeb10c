/**
 * The findings log: what the sanitizer found, one finding per kind and place, each with a
 * count of how often it happened.
 *
 * Recording is O(1): a finding is keyed by its kind and where it happened (the caller's
 * frame when stacks are on, else the call and the range involved), so a bug in a loop is
 * one finding with a count, and two call sites of one bug are two findings. Counts per kind
 * and per severity are kept as the findings arrive, so statistics never rescan the log.
 */

import { threadId } from 'node:worker_threads';
import {
  FINDINGS_LOG_MAX,
  H_FINDINGS_CLEARED_AT,
  H_FINDINGS_CLEARS,
  H_FINDINGS_END,
} from './board.js';
import type { Finding, FindingKind, FindingSeverity } from './sanitizer.js';
import { FINDING_KINDS } from './sanitizer.js';

/** A finding as the log keeps it: its count grows when the same bug happens again. */
export interface LoggedFinding extends Finding {
  count: number;
}

/** Called with each new finding (not with repeats of one already logged). */
export type FindingListener = (finding: Finding) => void;

const KIND_INDEX: ReadonlyMap<FindingKind, number> = new Map(
  FINDING_KINDS.map((k, i) => [k, i] as const),
);

/**
 * The log every thread of a machine writes its findings to, in shared memory: records of
 * [length, thread, JSON of key and finding], appended under the machine's lock. Each
 * thread's FindingsLog adds the other threads' records to its own as it is read, so every
 * thread sees one log, and the exit report (written by the thread that made the machine)
 * holds the findings of every thread.
 */
export interface SharedFindings {
  /** The board's header (H_FINDINGS_* words). */
  readonly header: Int32Array;
  /** The growable byte log. */
  readonly log: SharedArrayBuffer;
  /** Runs `fn` under the machine's lock. */
  readonly locked: <T>(fn: () => T) => T;
  /**
   * Whether more than one thread uses the machine: only then are findings copied to the
   * shared log (a thread that attaches later sees those made from then on).
   */
  readonly active: () => boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class FindingsLog {
  private shared: SharedFindings | undefined;
  /** Where this thread has read the shared log up to, and the clear generation it saw. */
  private cursor = 0;
  private clears = 0;
  private importing = false;

  private readonly byKey = new Map<string, LoggedFinding>();
  private readonly ordered: LoggedFinding[] = [];
  /** Distinct findings per kind, indexed as FINDING_KINDS. */
  private readonly perKind = new Uint32Array(FINDING_KINDS.length);
  private errorCount = 0;
  private warningCount = 0;
  readonly listeners = new Set<FindingListener>();

  /**
   * Joins the machine's shared log (or leaves it, with undefined): later findings go there
   * too, and other threads' come from there. What was logged before stays.
   */
  share(shared: SharedFindings | undefined): void {
    this.shared = shared;
    if (shared === undefined) return;
    this.cursor = Atomics.load(shared.header, H_FINDINGS_CLEARED_AT);
    this.clears = Atomics.load(shared.header, H_FINDINGS_CLEARS);
    this.sync();
  }

  /** Adds the records other threads appended since this thread last looked. */
  private sync(): void {
    const shared = this.shared;
    if (shared === undefined || this.importing) return;
    const h = shared.header;
    if (Atomics.load(h, H_FINDINGS_END) === this.cursor && h[H_FINDINGS_CLEARS] === this.clears) {
      return;
    }
    shared.locked(() => {
      if (h[H_FINDINGS_CLEARS] !== this.clears) {
        this.clears = h[H_FINDINGS_CLEARS]!;
        this.cursor = h[H_FINDINGS_CLEARED_AT]!;
        this.clearHere();
      }
      const end = h[H_FINDINGS_END]!;
      const bytes = new Uint8Array(shared.log);
      const words = new DataView(shared.log);
      this.importing = true;
      try {
        while (this.cursor < end) {
          const length = words.getUint32(this.cursor, true);
          const from = words.getUint32(this.cursor + 4, true);
          const text = decoder.decode(bytes.slice(this.cursor + 8, this.cursor + 8 + length));
          this.cursor += 8 + ((length + 3) & ~3);
          if (from === threadId) continue;
          const { key, finding } = JSON.parse(text, revive) as {
            key: string;
            finding?: LoggedFinding;
          };
          if (finding !== undefined) this.add(key, finding);
          else {
            const known = this.byKey.get(key);
            if (known !== undefined) known.count++;
          }
        }
      } finally {
        this.importing = false;
      }
    });
  }

  /** Appends a record of this thread's finding to the shared log (dropped when it is full). */
  private publish(key: string, finding: LoggedFinding | undefined): void {
    const shared = this.shared;
    if (shared === undefined || this.importing || !shared.active()) return;
    // A repeat is its key alone: the count grows where the finding is known.
    const record = finding === undefined ? { key } : { key, finding: { ...finding, count: 1 } };
    const text = encoder.encode(JSON.stringify(record, replace));
    shared.locked(() => {
      const h = shared.header;
      const at = h[H_FINDINGS_END]!;
      const need = at + 8 + ((text.byteLength + 3) & ~3);
      if (need > FINDINGS_LOG_MAX) return;
      const log = shared.log as SharedArrayBuffer & { grow(n: number): void };
      if (need > log.byteLength)
        log.grow(Math.min(FINDINGS_LOG_MAX, Math.max(need, log.byteLength * 2)));
      const words = new DataView(log);
      words.setUint32(at, text.byteLength, true);
      words.setUint32(at + 4, threadId, true);
      new Uint8Array(log).set(text, at + 8);
      Atomics.store(h, H_FINDINGS_END, need);
      // This thread's own record: skip it when reading.
      if (this.cursor === at) this.cursor = need;
    });
  }

  /** How many distinct findings the log holds. */
  get size(): number {
    this.sync();
    return this.ordered.length;
  }

  /** Distinct findings of severity `error`. */
  get errors(): number {
    this.sync();
    return this.errorCount;
  }

  /** Distinct findings of severity `warning`. */
  get warnings(): number {
    this.sync();
    return this.warningCount;
  }

  /**
   * Logs `finding` under `key`, or counts one more occurrence of the finding already
   * logged there. Returns the finding logged: `finding` itself when it is new (its count is
   * then 1), else the one logged before.
   */
  add(key: string, finding: LoggedFinding): LoggedFinding {
    const known = this.byKey.get(key);
    this.publish(key, known === undefined ? finding : undefined);
    if (known !== undefined) {
      known.count += this.importing ? finding.count : 1;
      return known;
    }
    // The log keeps the object it is given: its count grows with each repeat.
    const logged = finding;
    if (!this.importing) logged.count = 1;
    this.byKey.set(key, logged);
    this.ordered.push(logged);
    this.perKind[KIND_INDEX.get(finding.kind) ?? 0]!++;
    if (finding.severity === 'error') this.errorCount++;
    else this.warningCount++;
    for (const l of this.listeners) {
      try {
        l({ ...logged });
      } catch (error) {
        // A failing callback must not fail the hbsys call that found the hazard: its error
        // surfaces on its own, as an uncaught exception, after the call.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    return logged;
  }

  /** The findings in the order they were first seen (copies: the log keeps counting). */
  list(): Finding[] {
    this.sync();
    return this.ordered.map((f) => ({ ...f }));
  }

  /** Distinct findings per kind. */
  byKind(): Record<FindingKind, number> {
    this.sync();
    const out = {} as Record<FindingKind, number>;
    for (const [i, k] of FINDING_KINDS.entries()) out[k] = this.perKind[i]!;
    return out;
  }

  /** Distinct findings of `severity`. */
  count(severity: FindingSeverity): number {
    this.sync();
    return severity === 'error' ? this.errorCount : this.warningCount;
  }

  /** Forgets every finding, in every thread of the machine. */
  clear(): void {
    const shared = this.shared;
    if (shared !== undefined) {
      shared.locked(() => {
        const h = shared.header;
        h[H_FINDINGS_CLEARED_AT] = h[H_FINDINGS_END]!;
        h[H_FINDINGS_CLEARS]!++;
        this.clears = h[H_FINDINGS_CLEARS]!;
        this.cursor = h[H_FINDINGS_END]!;
      });
    }
    this.clearHere();
  }

  private clearHere(): void {
    this.byKey.clear();
    this.ordered.length = 0;
    this.perKind.fill(0);
    this.errorCount = 0;
    this.warningCount = 0;
  }
}

/** JSON of a finding: bigints as {"$bigint": hex}. */
function replace(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? { $bigint: value.toString(16) } : value;
}

function revive(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && '$bigint' in value) {
    return BigInt(`0x${(value as { $bigint: string }).$bigint}`);
  }
  return value;
}
