/**
 * The native backend's ledger: what hbsys handed out on the board. libdnn says nothing about
 * its heap (no statistics call, no walk), so the only answer to "how much BPU memory is mine"
 * is what this process allocated and registered through hbsys: live counts, bytes, the
 * high-water mark, flush counters, and at exit what is still held (the leak report).
 *
 * Every count is kept as it happens, so reading them costs O(1); the live list is a scan,
 * done only when asked for. Times are `performance.now()`: ms since the process started,
 * the time base of every hbsys observer.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { captureStack } from '../emulator/sanitizer.js';
import { hex } from '../handle-errors.js';

/** One allocation or registration the native backend handed out and has not taken back. */
export interface LedgerEntry {
  /** Unique in the process, in the order they were made. */
  readonly id: number;
  readonly kind: 'allocation' | 'registration';
  readonly phyAddr: bigint;
  /** Bytes asked for (alloc) or registered (`memSize` at hbSysRegisterMem). */
  readonly size: number;
  readonly cached: boolean;
  /** The label given to `allocate()`, `register()` or the C-style call; undefined if none. */
  readonly label: string | undefined;
  /** When it was made, in ms since the process started. */
  readonly createdAtMs: number;
  /** Where it was made, when stacks are recorded (`HBSYS_STACKS=1`). */
  readonly stack: string | undefined;
}

/** What happened on the native backend, for observers (the trace). */
export type LedgerEvent =
  | { readonly type: 'alloc' | 'free' | 'register' | 'unregister'; readonly entry: LedgerEntry }
  | {
      readonly type: 'flush';
      readonly op: 'clean' | 'invalidate';
      readonly phyAddr: bigint;
      readonly size: number;
      readonly label: string | undefined;
      /** ms since the process started. */
      readonly time: number;
      /** ms the libdnn call took. */
      readonly duration: number;
    };

/** The ledger's counters (see {@link NativeLedger}). */
export interface LedgerCounts {
  allocationCount: number;
  registrationCount: number;
  /** Bytes asked for by live allocations. */
  bytesInUse: number;
  /** The highest `bytesInUse` since the backend was loaded. */
  peakBytesInUse: number;
  /** Bytes of live registrations. */
  bytesRegistered: number;
  allocs: number;
  frees: number;
  registrations: number;
  unregistrations: number;
  cleans: number;
  invalidates: number;
  bytesCleaned: number;
  bytesInvalidated: number;
}

/** Listeners of every native ledger in the process (an observer may start before the backend loads). */
const listeners = new Set<(event: LedgerEvent) => void>();

/** Calls `listener` with every event of every native ledger from now on; returns a remover. */
export function onLedgerEvent(listener: (event: LedgerEvent) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const ledgers = new Set<NativeLedger>();
let nextId = 1;

/** The ledgers of the native backends made in this process (tests make more than one). */
export function nativeLedgers(): readonly NativeLedger[] {
  return [...ledgers];
}

export class NativeLedger {
  readonly counts: LedgerCounts = {
    allocationCount: 0,
    registrationCount: 0,
    bytesInUse: 0,
    peakBytesInUse: 0,
    bytesRegistered: 0,
    allocs: 0,
    frees: 0,
    registrations: 0,
    unregistrations: 0,
    cleans: 0,
    invalidates: 0,
    bytesCleaned: 0,
    bytesInvalidated: 0,
  };
  /** Live entries by the backend's own mapping object. */
  private readonly live = new Map<object, LedgerEntry>();
  private readonly stacks: boolean;

  /** `stacks`: record where each entry was made (default: `HBSYS_STACKS=1`). */
  constructor(stacks = process.env.HBSYS_STACKS === '1') {
    this.stacks = stacks;
    ledgers.add(this);
    installExitReport();
  }

  /** An allocation (or registration) succeeded; `key` is the backend's mapping. */
  opened(
    key: object,
    kind: LedgerEntry['kind'],
    phyAddr: bigint,
    size: number,
    cached: boolean,
    label: string | undefined,
  ): void {
    const entry: LedgerEntry = {
      id: nextId++,
      kind,
      phyAddr,
      size,
      cached,
      label,
      createdAtMs: performance.now(),
      stack: this.stacks ? captureStack() : undefined,
    };
    this.live.set(key, entry);
    const c = this.counts;
    if (kind === 'allocation') {
      c.allocs++;
      c.allocationCount++;
      c.bytesInUse += size;
      if (c.bytesInUse > c.peakBytesInUse) c.peakBytesInUse = c.bytesInUse;
    } else {
      c.registrations++;
      c.registrationCount++;
      c.bytesRegistered += size;
    }
    emit({ type: kind === 'allocation' ? 'alloc' : 'register', entry });
  }

  /** A free (or unregister) of `key` succeeded. */
  closed(key: object): void {
    const entry = this.live.get(key);
    if (entry === undefined) return;
    this.live.delete(key);
    const c = this.counts;
    if (entry.kind === 'allocation') {
      c.frees++;
      c.allocationCount--;
      c.bytesInUse -= entry.size;
    } else {
      c.unregistrations++;
      c.registrationCount--;
      c.bytesRegistered -= entry.size;
    }
    emit({ type: entry.kind === 'allocation' ? 'free' : 'unregister', entry });
  }

  /**
   * A flush of `size` bytes of `key`, from `at` bytes into it (a crop), succeeded; `started`
   * is when the call began.
   */
  flushed(key: object, op: 'clean' | 'invalidate', size: number, started: number, at = 0): void {
    const c = this.counts;
    if (op === 'clean') {
      c.cleans++;
      c.bytesCleaned += size;
    } else {
      c.invalidates++;
      c.bytesInvalidated += size;
    }
    if (listeners.size === 0) return;
    const entry = this.live.get(key);
    const time = performance.now();
    emit({
      type: 'flush',
      op,
      phyAddr: entry === undefined ? 0n : entry.phyAddr + BigInt(at),
      size,
      label: entry?.label,
      time: started,
      duration: time - started,
    });
  }

  /** What is live now, in the order it was made (a scan: O(live entries)). */
  entries(): LedgerEntry[] {
    return [...this.live.values()];
  }
}

function emit(event: LedgerEvent): void {
  for (const l of listeners) l(event);
}

/** A leak of the native backend, in the shape of a sanitizer finding (JSON). */
export interface NativeLeak {
  kind: 'leak';
  severity: 'error';
  message: string;
  /** `0x` and at least 8 lowercase hex digits. */
  phyAddr: string;
  size: number;
  where: 'exit';
  label?: string;
  allocStack?: string;
  /** ms since the process started, when the report was made. */
  time: number;
}

/** What every native ledger still holds, as leak findings (JSON). */
export function nativeLeaks(): NativeLeak[] {
  const time = performance.now();
  const out: NativeLeak[] = [];
  for (const ledger of ledgers) {
    for (const e of ledger.entries()) {
      const what = e.kind === 'allocation' ? 'allocation' : 'registration';
      const end = e.kind === 'allocation' ? 'hbSysFreeMem' : 'hbSysUnregisterMem';
      out.push({
        kind: 'leak',
        severity: 'error',
        message:
          `${what} of ${e.size} bytes at 0x${hex(e.phyAddr)}` +
          `${e.label === undefined ? '' : ` ('${e.label}')`} is still live at exit on the ` +
          `native backend: ${end} it when done (the board's memory is per-process and limited)`,
        phyAddr: `0x${hex(e.phyAddr)}`,
        size: e.size,
        where: 'exit',
        ...(e.label === undefined ? {} : { label: e.label }),
        ...(e.stack === undefined ? {} : { allocStack: e.stack }),
        time,
      });
    }
  }
  return out;
}

/** The leaks as the readable report, for stderr. */
export function formatNativeLeaks(leaks: readonly NativeLeak[]): string {
  const lines = [
    `hbsys (native backend): ${leaks.length} allocation(s) and registration(s) still live at exit`,
  ];
  for (const [i, l] of leaks.entries()) {
    lines.push(`#${i + 1} leak at ${l.phyAddr} (+${l.size} bytes): ${l.message}`);
    if (l.allocStack)
      lines.push('   allocated at:', ...l.allocStack.split('\n').map((s) => `     ${s.trim()}`));
  }
  return `${lines.join('\n')}\n`;
}

let exitHookInstalled = false;

/**
 * At exit, when leak reports are asked for (`HBSYS_SANITIZE=report` or `throw`, which is what
 * `hbsys check` sets): what is still live goes to stderr (unless `HBSYS_REPORT_QUIET=1`), and,
 * when `HBSYS_REPORT_FILE` is set, into that file's findings, as the emulator's report does.
 */
function installExitReport(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    const mode = process.env.HBSYS_SANITIZE;
    if (mode !== 'report' && mode !== 'throw') return;
    const leaks = nativeLeaks();
    // HBSYS_REPORT_QUIET=1: the tool that ran this program (hbsys check) prints the report.
    if (leaks.length > 0 && process.env.HBSYS_REPORT_QUIET !== '1') {
      process.stderr.write(formatNativeLeaks(leaks));
    }
    const file = process.env.HBSYS_REPORT_FILE;
    if (file === undefined || file === '') return;
    // The emulator's report may be there already (a program can use both backends): add to it.
    let report: { findings?: unknown[] } = {};
    try {
      report = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    } catch {}
    const findings = [...(Array.isArray(report.findings) ? report.findings : []), ...leaks];
    writeFileSync(file, JSON.stringify({ ...report, findings }));
  });
}
