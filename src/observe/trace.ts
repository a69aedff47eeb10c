/**
 * A trace of what hbsys did, in Chrome's trace-event JSON, which Perfetto (ui.perfetto.dev)
 * and chrome://tracing open: allocation, VIO-buffer and registration lifetimes, flushes and
 * BPU jobs as slices on their own tracks, and bytes in use as a counter. It covers both
 * backends: the emulator's machine events (across `emulator.reset()`: slices of a replaced
 * machine end at the reset) and the native backend's ledger.
 *
 * Lifetimes overlap (a heap holds many buffers at once), and overlapping slices on one
 * thread track draw as garbage. So each kind of slice is spread over lanes, one thread
 * track per lane: a slice takes the first lane that is free when it starts, as a register
 * allocator assigns intervals.
 *
 * Times are microseconds (the format's unit) since the process started: `performance.now()`
 * × 1000, the clock of every hbsys observer.
 */

import type { MachineEvent } from '../emulator/events.js';
import { observeMachines } from '../emulator/index.js';
import type { Machine } from '../emulator/machine.js';
import {
  type LedgerEntry,
  type LedgerEvent,
  nativeLedgers,
  onLedgerEvent,
} from '../native/ledger.js';
import { hexAddress, processTime } from './units.js';

/** One trace event (the fields hbsys writes; see the Trace Event Format document). */
export interface TraceEvent {
  /** The slice's name (a label, `CLEAN`, a kernel), or the metadata or counter name. */
  name: string;
  /** X: a slice, C: a counter, M: metadata, i: an instant. */
  ph: 'X' | 'C' | 'M' | 'i';
  /** Microseconds since the process started. */
  ts: number;
  /** The slice's length in microseconds. */
  dur?: number;
  /** The process track (always 1: one process). */
  pid: number;
  /** The thread track: a kind of slice and its lane (see TRACKS in the source). */
  tid: number;
  /** The kind of slice: `allocation`, `vio`, `registration`, `flush`, `bpu`. */
  cat?: string;
  /** An instant's scope: thread, process or global. */
  s?: 't' | 'p' | 'g';
  /** What the slice is about: `phyAddr` (hex), `size` (bytes asked for), `label`, … */
  args?: Record<string, unknown>;
}

/** A trace as Perfetto and chrome://tracing open it. */
export interface ChromeTrace {
  /** Slices, counters and the track names. */
  traceEvents: TraceEvent[];
  /** How viewers show times. */
  displayTimeUnit: 'ms';
  /** The producer and the clock. */
  otherData: Record<string, string>;
}

const PID = 1;

/** The tracks, by kind of slice: a base thread id and a name; lane k is base + k. */
export const TRACKS = {
  allocation: { tid: 100, name: 'ION allocations' },
  vio: { tid: 200, name: 'VIO buffers' },
  registration: { tid: 300, name: 'registrations' },
  flush: { tid: 400, name: 'flushes' },
  bpu: { tid: 500, name: 'BPU jobs' },
  native: { tid: 600, name: 'native allocations' },
  counters: { tid: 1, name: 'memory' },
  findings: { tid: 2, name: 'sanitizer findings' },
} as const;

type TrackName = Exclude<keyof typeof TRACKS, 'counters' | 'findings'>;

interface Slice {
  track: TrackName;
  name: string;
  /** ms since the process started. */
  start: number;
  end: number | undefined;
  cat: string;
  args: Record<string, unknown>;
}

/** Bytes in use of one machine (or of the native backend), for the counter. */
interface Bytes {
  ion: number;
  vio: number;
}

/**
 * Records what happens from now on, on both backends; {@link TraceRecorder.toTrace} builds
 * the trace. What was live when recording began shows as starting then (`beforeTrace`).
 *
 * @example
 * ```ts
 * const recorder = new TraceRecorder();
 * using input = allocate(4096, { cached: true, label: 'input' });
 * input.write(new Uint8Array(4096).fill(1)).clean();
 * recorder.stop();
 * writeFileSync('trace.json', JSON.stringify(recorder.toTrace()));   // open in ui.perfetto.dev
 * ```
 */
export class TraceRecorder {
  private readonly slices: Slice[] = [];
  private readonly open = new Map<string, Slice>();
  private readonly counters: TraceEvent[] = [];
  /** The sanitizer's findings, as instants on their own track, at the moment they were made. */
  private readonly findings: TraceEvent[] = [];
  private readonly stops: (() => void)[] = [];
  private generation = 0;
  private events = 0;
  private machineBytes: Bytes = { ion: 0, vio: 0 };
  private nativeBytes = { allocated: 0, registered: 0 };
  private stopped = false;

  /** Starts recording. */
  constructor() {
    const startedAt = performance.now();
    let first = true;
    this.stops.push(
      observeMachines((m) => {
        this.followMachine(m, first ? startedAt : m.createdAt, first);
        first = false;
      }),
    );
    for (const ledger of nativeLedgers()) {
      for (const e of ledger.entries()) this.nativeOpen(e, startedAt, true);
    }
    this.stops.push(onLedgerEvent((e) => this.onLedger(e)));
  }

  /** Stops recording; the trace can still be built. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops) stop();
  }

  /** Events recorded so far. */
  get eventCount(): number {
    return this.events;
  }

  /** The trace of what was recorded; slices still open end now (`args.open`: true). */
  toTrace(): ChromeTrace {
    const now = performance.now();
    const traceEvents: TraceEvent[] = [
      { name: 'process_name', ph: 'M', ts: 0, pid: PID, tid: 0, args: { name: 'hbsys' } },
    ];
    const lanesUsed = assignLanes(this.slices, now, traceEvents);
    for (const [track, lanes] of lanesUsed) {
      const t = TRACKS[track];
      for (let k = 0; k < lanes; k++) {
        const tid = t.tid + k;
        const name = lanes === 1 ? t.name : `${t.name} ${k + 1}`;
        traceEvents.push({ name: 'thread_name', ph: 'M', ts: 0, pid: PID, tid, args: { name } });
        traceEvents.push({
          name: 'thread_sort_index',
          ph: 'M',
          ts: 0,
          pid: PID,
          tid,
          args: { sort_index: tid },
        });
      }
    }
    traceEvents.push({
      name: 'thread_name',
      ph: 'M',
      ts: 0,
      pid: PID,
      tid: TRACKS.counters.tid,
      args: { name: TRACKS.counters.name },
    });
    traceEvents.push(...this.counters);
    if (this.findings.length > 0) {
      traceEvents.push({
        name: 'thread_name',
        ph: 'M',
        ts: 0,
        pid: PID,
        tid: TRACKS.findings.tid,
        args: { name: TRACKS.findings.name },
      });
      traceEvents.push(...this.findings);
    }
    return {
      traceEvents,
      displayTimeUnit: 'ms',
      otherData: { producer: 'hbsys', clock: 'microseconds since the process started' },
    };
  }

  // --- the emulator ------------------------------------------------------------------------

  private followMachine(m: Machine, at: number, before: boolean): void {
    // A new machine replaces the old one: what the old one held ends at the reset.
    for (const [key, s] of this.open) {
      if (key.startsWith('m') && s.end === undefined) {
        s.end = at;
        s.args.endedByReset = true;
        this.open.delete(key);
      }
    }
    const gen = ++this.generation;
    this.machineBytes = { ion: 0, vio: 0 };
    if (before) {
      for (const o of m.owners.values()) {
        this.machineOpen(
          gen,
          o.kind,
          o.id,
          o.label,
          o.phyAddr,
          o.size,
          o.blockBytes,
          o.cached,
          at,
          true,
        );
        for (const r of o.registrations) {
          this.registrationOpen(gen, r.phyAddr, r.size, r.label, o.id, at, true);
        }
      }
    }
    this.machineCounter(at);
    const listener = (e: MachineEvent) => this.onMachine(m, gen, e);
    m.listeners.add(listener);
    this.stops.push(() => m.listeners.delete(listener));
  }

  private onMachine(m: Machine, gen: number, e: MachineEvent): void {
    this.events++;
    const time = processTime(m, e.time);
    switch (e.type) {
      case 'alloc':
        this.machineOpen(
          gen,
          e.kind,
          e.id,
          e.label,
          e.phyAddr,
          e.size,
          e.blockBytes,
          e.cached,
          time,
          false,
        );
        this.machineCounter(time);
        break;
      case 'free': {
        const s = this.close(`m${gen}:o${e.id}`, time);
        if (s !== undefined) {
          const blockBytes = s.args.blockBytes as number;
          if (e.kind === 'allocation') this.machineBytes.ion -= blockBytes;
          else this.machineBytes.vio -= blockBytes;
          this.machineCounter(time);
        }
        break;
      }
      case 'register':
        // The event carries the label: looking it up in the machine's table would cost a
        // scan of every mapping per event.
        this.registrationOpen(gen, e.phyAddr, e.size, e.label, e.ownerId, time, false);
        break;
      case 'unregister':
        this.close(`m${gen}:r${e.phyAddr}:${e.size}`, time);
        break;
      case 'flush':
        this.slices.push({
          track: 'flush',
          name: e.op === 'clean' ? 'CLEAN' : 'INVALIDATE',
          start: time,
          end: time + e.duration,
          cat: 'flush',
          args: { phyAddr: hexAddress(e.phyAddr), size: e.size, writtenBack: e.writtenBack },
        });
        break;
      case 'bpu-submit': {
        const s: Slice = {
          track: 'bpu',
          name: e.kernel,
          start: time,
          end: undefined,
          cat: 'bpu',
          args: { job: e.job, bytes: e.bytes },
        };
        this.slices.push(s);
        this.open.set(`m${gen}:j${e.job}`, s);
        break;
      }
      case 'bpu-complete':
      case 'bpu-fault': {
        const s = this.close(`m${gen}:j${e.job}`, time);
        if (s !== undefined && e.type === 'bpu-fault') s.args.fault = e.message ?? 'fault';
        break;
      }
      case 'finding':
        // An instant on the findings track: a viewer shows it as a mark at the moment the
        // hazard was revealed, over the slices of the memory involved.
        this.findings.push({
          name: e.kind,
          ph: 'i',
          s: 't',
          ts: us(time),
          pid: PID,
          tid: TRACKS.findings.tid,
          cat: `finding,${e.severity}`,
          args: {
            severity: e.severity,
            phyAddr: hexAddress(e.phyAddr),
            size: e.size,
            where: e.where,
            message: e.message,
          },
        });
        break;
      case 'reset':
        break;
    }
  }

  private machineOpen(
    gen: number,
    kind: 'allocation' | 'vio',
    id: number,
    label: string | undefined,
    phyAddr: number,
    size: number,
    blockBytes: number,
    cached: boolean,
    time: number,
    before: boolean,
  ): void {
    const s: Slice = {
      track: kind,
      name: label ?? `${kind} ${hexAddress(phyAddr)}`,
      start: time,
      end: undefined,
      cat: kind,
      args: {
        id,
        phyAddr: hexAddress(phyAddr),
        size,
        blockBytes,
        cached,
        label: label ?? null,
        ...(before ? { beforeTrace: true } : {}),
      },
    };
    this.slices.push(s);
    this.open.set(`m${gen}:o${id}`, s);
    if (kind === 'allocation') this.machineBytes.ion += blockBytes;
    else this.machineBytes.vio += blockBytes;
  }

  private registrationOpen(
    gen: number,
    phyAddr: number,
    size: number,
    label: string | undefined,
    ownerId: number,
    time: number,
    before: boolean,
  ): void {
    const s: Slice = {
      track: 'registration',
      name: label ?? `registration ${hexAddress(phyAddr)}`,
      start: time,
      end: undefined,
      cat: 'registration',
      args: {
        phyAddr: hexAddress(phyAddr),
        size,
        label: label ?? null,
        ownerId,
        ...(before ? { beforeTrace: true } : {}),
      },
    };
    this.slices.push(s);
    this.open.set(`m${gen}:r${phyAddr}:${size}`, s);
  }

  private machineCounter(time: number): void {
    this.counters.push({
      name: 'bytes in use',
      ph: 'C',
      ts: us(time),
      pid: PID,
      tid: TRACKS.counters.tid,
      args: { ...this.machineBytes },
    });
  }

  // --- the native backend ------------------------------------------------------------------

  private onLedger(e: LedgerEvent): void {
    this.events++;
    switch (e.type) {
      case 'alloc':
      case 'register':
        this.nativeOpen(e.entry, e.entry.createdAtMs, false);
        break;
      case 'free':
      case 'unregister': {
        const time = performance.now();
        if (this.close(`n${e.entry.id}`, time) === undefined) break;
        if (e.entry.kind === 'allocation') this.nativeBytes.allocated -= e.entry.size;
        else this.nativeBytes.registered -= e.entry.size;
        this.nativeCounter(time);
        break;
      }
      case 'flush':
        this.slices.push({
          track: 'flush',
          name: e.op === 'clean' ? 'CLEAN' : 'INVALIDATE',
          start: e.time,
          end: e.time + e.duration,
          cat: 'flush',
          args: { phyAddr: hexAddress(e.phyAddr), size: e.size, label: e.label ?? null },
        });
        break;
    }
  }

  private nativeOpen(e: LedgerEntry, time: number, before: boolean): void {
    const registration = e.kind === 'registration';
    const s: Slice = {
      track: registration ? 'registration' : 'native',
      name: e.label ?? `${e.kind} ${hexAddress(e.phyAddr)}`,
      start: time,
      end: undefined,
      cat: registration ? 'registration' : 'allocation',
      args: {
        id: e.id,
        phyAddr: hexAddress(e.phyAddr),
        size: e.size,
        cached: e.cached,
        label: e.label ?? null,
        backend: 'native',
        ...(before ? { beforeTrace: true } : {}),
      },
    };
    this.slices.push(s);
    this.open.set(`n${e.id}`, s);
    if (registration) this.nativeBytes.registered += e.size;
    else this.nativeBytes.allocated += e.size;
    this.nativeCounter(time);
  }

  private nativeCounter(time: number): void {
    this.counters.push({
      name: 'native bytes',
      ph: 'C',
      ts: us(time),
      pid: PID,
      tid: TRACKS.counters.tid,
      args: { ...this.nativeBytes },
    });
  }

  private close(key: string, time: number): Slice | undefined {
    const s = this.open.get(key);
    if (s === undefined) return undefined;
    s.end = time;
    this.open.delete(key);
    return s;
  }
}

/** Places every slice on a lane of its track, appends it as an X event; lanes per track. */
function assignLanes(slices: Slice[], now: number, out: TraceEvent[]): Map<TrackName, number> {
  const laneEnds = new Map<TrackName, number[]>();
  const sorted = [...slices].sort((a, b) => a.start - b.start);
  for (const s of sorted) {
    const open = s.end === undefined;
    const end = s.end ?? now;
    let ends = laneEnds.get(s.track);
    if (ends === undefined) laneEnds.set(s.track, (ends = []));
    let lane = ends.findIndex((e) => e <= s.start);
    if (lane < 0) lane = ends.push(end) - 1;
    else ends[lane] = end;
    out.push({
      name: s.name,
      ph: 'X',
      ts: us(s.start),
      dur: Math.max(us(end) - us(s.start), 0),
      pid: PID,
      tid: TRACKS[s.track].tid + lane,
      cat: s.cat,
      args: open ? { ...s.args, open: true } : s.args,
    });
  }
  return new Map([...laneEnds].map(([t, e]) => [t, e.length]));
}

/** Milliseconds to whole-ish microseconds (three decimals keep nanoseconds). */
function us(ms: number): number {
  return Math.round(ms * 1e6) / 1e3;
}
