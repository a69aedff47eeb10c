/**
 * The findings log: what the sanitizer found, one finding per kind and place, each with a
 * count of how often it happened.
 *
 * Recording is O(1): a finding is keyed by its kind and where it happened (the caller's
 * frame when stacks are on, else the call and the range involved), so a bug in a loop is
 * one finding with a count, and two call sites of one bug are two findings. Counts per kind
 * and per severity are kept as the findings arrive, so statistics never rescan the log.
 */

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

export class FindingsLog {
  private readonly byKey = new Map<string, LoggedFinding>();
  private readonly ordered: LoggedFinding[] = [];
  /** Distinct findings per kind, indexed as FINDING_KINDS. */
  private readonly perKind = new Uint32Array(FINDING_KINDS.length);
  private errorCount = 0;
  private warningCount = 0;
  readonly listeners = new Set<FindingListener>();

  /** How many distinct findings the log holds. */
  get size(): number {
    return this.ordered.length;
  }

  /** Distinct findings of severity `error`. */
  get errors(): number {
    return this.errorCount;
  }

  /** Distinct findings of severity `warning`. */
  get warnings(): number {
    return this.warningCount;
  }

  /**
   * Logs `finding` under `key`, or counts one more occurrence of the finding already
   * logged there. Returns the finding logged: `finding` itself when it is new (its count is
   * then 1), else the one logged before.
   */
  add(key: string, finding: LoggedFinding): LoggedFinding {
    const known = this.byKey.get(key);
    if (known !== undefined) {
      known.count++;
      return known;
    }
    // The log keeps the object it is given: its count grows with each repeat.
    const logged = finding;
    logged.count = 1;
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
    return this.ordered.map((f) => ({ ...f }));
  }

  /** Distinct findings per kind. */
  byKind(): Record<FindingKind, number> {
    const out = {} as Record<FindingKind, number>;
    for (const [i, k] of FINDING_KINDS.entries()) out[k] = this.perKind[i]!;
    return out;
  }

  /** Distinct findings of `severity`. */
  count(severity: FindingSeverity): number {
    return severity === 'error' ? this.errorCount : this.warningCount;
  }

  clear(): void {
    this.byKey.clear();
    this.ordered.length = 0;
    this.perKind.fill(0);
    this.errorCount = 0;
    this.warningCount = 0;
  }
}
