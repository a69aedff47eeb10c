/**
 * The sanitizer: what a board cannot say. The emulator knows every mapping, allocation and
 * device access, so it can name each hazard with its addresses and, when stacks are on,
 * where the memory was allocated or freed.
 *
 * Modes: `off` (no checks, no cost), `report` (collect; printed at exit), `throw` (fail at
 * the hazard). Hazards that are invalid arguments of a C-style function (double free,
 * stale handle, …) are recorded and the function still returns its status code, in every
 * mode; the others throw an HbSysSanitizerError in `throw` mode, before anything changes.
 */

import { findSourceMap } from 'node:module';
import { dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex } from '../handle-errors.js';
import { dirtyLines } from './cache/index.js';
import type { FindingsLog, LoggedFinding } from './findings.js';
import type { SanitizeMode } from './options.js';
import { CACHE_LINE, type Region } from './physical-memory.js';

/** The kinds of finding, by fixed name. */
export type FindingKind =
  | 'device-read-dirty'
  | 'cpu-read-stale'
  | 'write-conflict'
  | 'invalidate-dirty'
  | 'double-free'
  | 'invalid-free'
  | 'free-registered'
  | 'unregister-allocated'
  | 'stale-handle'
  | 'device-out-of-bounds'
  | 'in-flight'
  | 'leak'
  | 'redundant-flush'
  | 'task-not-done'
  | 'task-released-early'
  | 'task-leak'
  | 'task-limit'
  | 'tensor-too-small'
  | 'model-released-busy'
  | 'cpu-write-in-flight'
  | 'cpu-read-in-flight'
  | 'uninitialized-read'
  | 'register-failed'
  | 'not-a-handle'
  | 'sanitizer-tampered';

export const FINDING_KINDS: readonly FindingKind[] = [
  'device-read-dirty',
  'cpu-read-stale',
  'write-conflict',
  'invalidate-dirty',
  'double-free',
  'invalid-free',
  'free-registered',
  'unregister-allocated',
  'stale-handle',
  'device-out-of-bounds',
  'in-flight',
  'leak',
  'redundant-flush',
  'task-not-done',
  'task-released-early',
  'task-leak',
  'task-limit',
  'tensor-too-small',
  'model-released-busy',
  'cpu-write-in-flight',
  'cpu-read-in-flight',
  'uninitialized-read',
  'register-failed',
  'not-a-handle',
  'sanitizer-tampered',
];

/**
 * How bad a finding is: `error` for what corrupts data or breaks the program on a board
 * (`hbsys check` fails on these), `warning` for waste (a flush that does nothing) and for
 * failures a program may ignore (a refused registration), which are often the root cause of
 * a later error.
 */
export type FindingSeverity = 'error' | 'warning';

/** The kinds that are warnings; every other kind is an error. */
const WARNING_KINDS: ReadonlySet<FindingKind> = new Set<FindingKind>([
  'redundant-flush',
  'register-failed',
  'not-a-handle',
]);

/** The severity of a kind of finding. */
export function severityOf(kind: FindingKind): FindingSeverity {
  return WARNING_KINDS.has(kind) ? 'warning' : 'error';
}

/** One hazard, with what happened, where, and what to do. */
export interface Finding {
  /** What kind of hazard (see {@link FindingKind}). */
  readonly kind: FindingKind;
  /** `error` (corruption, a broken program) or `warning` (waste, an ignorable failure). */
  readonly severity: FindingSeverity;
  /**
   * How many times it happened: the same kind at the same place (the same call site when
   * stacks are on, else the same call and range) is one finding, counted.
   */
  readonly count: number;
  /** What happened, to which range, and what to do. */
  readonly message: string;
  /** Start of the range involved. */
  readonly phyAddr: bigint;
  /** Bytes of the range involved. */
  readonly size: number;
  /** The call or job that revealed it (`hbSysFreeMem`, `bpu.copy`, `exit`, …). */
  readonly where: string;
  /** Label of the allocation involved, if it has one. */
  readonly label?: string;
  /** Where the hazard happened (stacks on). */
  readonly stack?: string;
  /** Where the memory involved was allocated (stacks on). */
  readonly allocStack?: string;
  /** Where the memory involved was freed (stacks on). */
  readonly freeStack?: string;
  /** Milliseconds since the process started. */
  readonly time: number;
}

/** Kinds that are invalid arguments of a C-style call: recorded, never thrown. */
const ARGUMENT_KINDS: ReadonlySet<FindingKind> = new Set([
  'double-free',
  'invalid-free',
  'free-registered',
  'unregister-allocated',
  'stale-handle',
  'task-limit',
  'tensor-too-small',
  'model-released-busy',
  'register-failed',
  'not-a-handle',
  'sanitizer-tampered',
]);

/** Thrown in `throw` mode at the hazard. Its name lets it pass the C-style guard. */
export class HbSysSanitizerError extends Error {
  /** The finding that stopped the call. */
  readonly finding: Finding;
  /** The error for `finding`; the sanitizer makes these, programs catch them. */
  constructor(finding: Finding) {
    super(`[${finding.kind}] ${finding.message}`);
    this.name = 'HbSysSanitizerError';
    this.finding = finding;
  }
}

export type FindingInput = Omit<Finding, 'time' | 'stack' | 'severity' | 'count'>;

/** Two planes of line marks of one region: one byte a line each. */
interface LinePlanes {
  /** 1: a device (or a write behind the cache) changed the line, not INVALIDATEd since. */
  readonly stale: Uint8Array;
  /** 1: something wrote the line since its allocation. */
  readonly written: Uint8Array;
}

/**
 * What the sanitizer knows of each cache line of physical memory, per region (shared typed
 * arrays of the region, one byte a line so that marking and searching are the
 * engine's fill and indexOf):
 * - stale: written by a device (or behind the cache, through an uncached alias) and not
 *   INVALIDATEd since; a CPU read of it through a cached mapping is stale;
 * - written: written by anyone since its allocation; a job that reads a range none of whose
 *   lines is written reads uninitialized memory.
 */
export class DeviceLines {
  private readonly marks = new Map<Region, LinePlanes>();

  /** The region's planes, in its shared memory: every thread sees the same marks. */
  private of(region: Region): LinePlanes {
    let m = this.marks.get(region);
    if (m === undefined) {
      m = { stale: region.lineStale, written: region.lineWritten };
      this.marks.set(region, m);
    }
    return m;
  }

  /** A device wrote `[offset, offset + size)`: its lines are stale for the CPU, and written. */
  mark(region: Region, offset: number, size: number): void {
    const m = this.of(region);
    const [first, end] = lineSpan(offset, size);
    m.stale.fill(1, first, end);
    m.written.fill(1, first, end);
  }

  /** INVALIDATE of `[offset, offset + size)`: its lines are no longer stale. */
  clear(region: Region, offset: number, size: number): void {
    const [first, end] = lineSpan(offset, size);
    this.of(region).stale.fill(0, first, end);
  }

  /** A new owner: nothing of `[offset, offset + size)` is stale or written. */
  forget(region: Region, offset: number, size: number): void {
    const m = this.of(region);
    const [first, end] = lineSpan(offset, size);
    m.stale.fill(0, first, end);
    m.written.fill(0, first, end);
  }

  /** The lines of `[offset, offset + size)` were written (by the CPU or a DMA). */
  written(region: Region, offset: number, size: number): void {
    const [first, end] = lineSpan(offset, size);
    this.of(region).written.fill(1, first, end);
  }

  /** The lines at `lines` (line offsets) were written. */
  writtenLines(region: Region, lines: readonly number[]): void {
    const w = this.of(region).written;
    for (const l of lines) w[l / CACHE_LINE] = 1;
  }

  /** The line at `lineOffset` holds data behind the cache: stale for the CPU, and written. */
  markStaleLine(region: Region, lineOffset: number): void {
    const m = this.of(region);
    m.stale[lineOffset / CACHE_LINE] = 1;
    m.written[lineOffset / CACHE_LINE] = 1;
  }

  /** Offsets of the stale lines in `[offset, offset + size)`. */
  marked(region: Region, offset: number, size: number): number[] {
    const [first, end] = lineSpan(offset, size);
    const lines = this.of(region).stale.subarray(first, end);
    const out: number[] = [];
    for (let i = lines.indexOf(1); i !== -1; i = lines.indexOf(1, i + 1)) {
      out.push((first + i) * CACHE_LINE);
    }
    return out;
  }

  /** Whether any line of `[offset, offset + size)` is stale. */
  anyMarked(region: Region, offset: number, size: number): boolean {
    const [first, end] = lineSpan(offset, size);
    return this.of(region).stale.subarray(first, end).indexOf(1) !== -1;
  }

  /** Whether any line of `[offset, offset + size)` was written since its allocation. */
  anyWritten(region: Region, offset: number, size: number): boolean {
    const [first, end] = lineSpan(offset, size);
    return this.of(region).written.subarray(first, end).indexOf(1) !== -1;
  }

  isMarked(region: Region, lineOffset: number): boolean {
    return this.of(region).stale[lineOffset / CACHE_LINE] === 1;
  }
}

/** The first line of `[offset, offset + size)` and the line after its last, as indexes. */
function lineSpan(offset: number, size: number): [number, number] {
  return [Math.floor(offset / CACHE_LINE), Math.ceil((offset + size) / CACHE_LINE)];
}

/** The sanitizer's epoch (see Sanitizer.epoch), shared by every machine. @internal */
export const sanitizerEpoch = { value: 0 };

export class Sanitizer {
  readonly mode: SanitizeMode;
  readonly stacks: boolean;
  readonly device = new DeviceLines();
  /**
   * Bumped by everything that can change what a CPU read of a mapping would find (a device
   * write, an INVALIDATE, a job submitted or completed): the checked `virAddr` accessor
   * looks again only when it moved, so a loop over `virAddr` costs one compare a read.
   * One counter for every machine ({@link sanitizerEpoch}): a move in one only makes the
   * accessors of another look once more.
   */
  get epoch(): number {
    return sanitizerEpoch.value;
  }

  set epoch(value: number) {
    sanitizerEpoch.value = value;
  }
  private readonly log: FindingsLog;
  private readonly onNew: ((finding: Finding) => void) | undefined;

  /** `onNew`: told of each new finding (the machine makes it an event for observers). */
  constructor(
    mode: SanitizeMode,
    stacks: boolean,
    log: FindingsLog,
    onNew?: (finding: Finding) => void,
  ) {
    this.mode = mode;
    this.stacks = stacks;
    this.log = log;
    this.onNew = onNew;
  }

  get on(): boolean {
    return this.mode !== 'off';
  }

  /**
   * Records a finding (once per kind and place, counted) and, in `throw` mode, throws it
   * unless it is an invalid argument of a C-style call.
   */
  report(input: FindingInput): void {
    const finding = this.record(input);
    if (finding !== undefined && this.mode === 'throw' && !ARGUMENT_KINDS.has(input.kind)) {
      throw new HbSysSanitizerError(finding);
    }
  }

  /**
   * Records a finding (once per kind and place, counted), never throwing. `at`: the stack
   * of its cause, when that was captured earlier.
   */
  record(input: FindingInput, at?: string): Finding | undefined {
    if (this.mode === 'off') return undefined;
    // A leak is found at exit or reset, whose stack says nothing: its allocStack says where.
    // A finding made later than its cause (a pointer checked after the synchronous run)
    // passes the stack of the cause as `at`.
    const stack = at ?? (this.stacks && input.kind !== 'leak' ? captureStack() : undefined);
    const site = firstFrame(stack ?? input.allocStack);
    // The same bug at the same place is one finding: by call site when stacks say it, else
    // by the call and the range involved.
    const key =
      site === undefined
        ? `${input.kind}|${input.where}|${Number(input.phyAddr)}|${input.size}`
        : `${input.kind}|${input.where}|${site}`;
    // One shape for every finding (no spreads): recording stays O(1) and cheap in a loop.
    const finding: LoggedFinding = {
      kind: input.kind,
      severity: severityOf(input.kind),
      count: 1,
      message: input.message,
      phyAddr: input.phyAddr,
      size: input.size,
      where: input.where,
      label: input.label,
      stack,
      allocStack: input.allocStack,
      freeStack: input.freeStack,
      time: performance.now(),
    };
    const logged = this.log.add(key, finding);
    if (logged === finding) this.onNew?.(logged);
    return logged;
  }

  /** Dirty lines (the CPU wrote, not yet cleaned) in a range of a region. */
  dirty(region: Region, offset: number, size: number): number[] {
    return region.strict ? dirtyLines(region, offset, offset + size) : [];
  }
}

/** The first frame of a stack as captured, trimmed; undefined for none. */
function firstFrame(stack: string | undefined): string | undefined {
  if (stack === undefined || stack === '') return undefined;
  const end = stack.indexOf('\n');
  return (end === -1 ? stack : stack.slice(0, end)).trim();
}

/** A span of line offsets as text: "[0x…, 0x…)" with the count. */
export function describeLines(
  region: Region,
  lines: number[],
): { text: string; phyAddr: bigint; size: number } {
  const first = lines[0]!;
  const last = lines[lines.length - 1]! + CACHE_LINE;
  const a = region.base + first;
  const b = region.base + last;
  return {
    text: `${lines.length} cache line(s) in [0x${hex(a)}, 0x${hex(b)})`,
    phyAddr: BigInt(a),
    size: b - a,
  };
}

/** This package's compiled files (V8 names their frames by URL): left out of the stacks shown. */
const OWN_COMPILED = new URL('../', import.meta.url).href;
let ownSources: string | undefined;

/**
 * This package's source directory, as Node names the frames it maps back to sources (a
 * path) when source maps are on (`--enable-source-maps`); undefined while they are off.
 */
function ownSourceDir(): string | undefined {
  if (ownSources !== undefined) return ownSources;
  const source = findSourceMap(fileURLToPath(import.meta.url))?.payload.sources[0];
  if (source === undefined || !source.startsWith('file:')) return undefined;
  // This file's source is <source dir>/emulator/sanitizer.ts.
  ownSources = `${dirname(dirname(fileURLToPath(source)))}${sep}`;
  return ownSources;
}

/** The caller's stack, without hbsys's own frames and Node's internals. */
export function captureStack(): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  Error.captureStackTrace(holder, captureStack);
  Error.stackTraceLimit = limit;
  const sources = ownSourceDir();
  return (holder.stack ?? '')
    .split('\n')
    .slice(1)
    .filter(
      (l) =>
        !l.includes(OWN_COMPILED) &&
        (sources === undefined || !l.includes(sources)) &&
        !l.includes('node:internal'),
    )
    .slice(0, 12)
    .join('\n');
}

/** The findings as a readable report, for stderr. */
export function formatReport(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'hbsys sanitizer: no findings\n';
  const errors = findings.filter((f) => f.severity === 'error').length;
  const lines = [
    `hbsys sanitizer: ${findings.length} finding(s): ${errors} error(s), ` +
      `${findings.length - errors} warning(s)`,
  ];
  for (const [i, f] of findings.entries()) {
    const times = f.count > 1 ? `, ${f.count} times` : '';
    lines.push(
      '',
      `#${i + 1} ${f.severity} ${f.kind} at 0x${hex(f.phyAddr)} (+${f.size} bytes)${f.label ? ` '${f.label}'` : ''}, in ${f.where}${times}`,
    );
    lines.push(`   ${f.message}`);
    if (f.stack) lines.push('   at:', indent(f.stack));
    if (f.allocStack) lines.push('   allocated at:', indent(f.allocStack));
    if (f.freeStack) lines.push('   freed at:', indent(f.freeStack));
  }
  const byKind = new Map<string, number>();
  for (const f of findings) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  lines.push('', `summary: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function indent(stack: string): string {
  return stack
    .split('\n')
    .map((l) => `     ${l.trim()}`)
    .join('\n');
}
