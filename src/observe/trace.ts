/**
 * A trace of the emulated machine in Chrome's trace-event JSON, which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open: allocation, VIO-buffer and registration
 * lifetimes, flushes and BPU jobs as slices on their own tracks, and bytes in use as a
 * counter. Built from machine events.
 *
 * Lifetimes overlap (a heap holds many buffers at once), and overlapping slices on one
 * thread track draw as garbage. So each kind of slice is spread over lanes, one thread
 * track per lane: a slice takes the first lane that is free when it starts, as a register
 * allocator assigns intervals.
 */

import type { MachineEvent } from '../emulator/events.js';
import { currentMachine } from '../emulator/index.js';
import type { Machine } from '../emulator/machine.js';
import { hexAddress } from './dump.js';

/** One trace event (the fields hbsys writes; see the Trace Event Format document). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'C' | 'M' | 'i';
  /** Microseconds since the machine was made. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
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
  counters: { tid: 1, name: 'memory' },
} as const;

type TrackName = Exclude<keyof typeof TRACKS, 'counters'>;

interface Slice {
  track: TrackName;
  name: string;
  start: number;
  end: number | undefined;
  cat: string;
  args: Record<string, unknown>;
}

/** Records a machine's events from now on; {@link TraceRecorder.toTrace} builds the trace. */
export class TraceRecorder {
  readonly machine: Machine;
  private readonly events: MachineEvent[] = [];
  private readonly listener = (e: MachineEvent) => {
    this.events.push(e);
  };
  private readonly startedAt: number;
  private readonly before: { bytesIon: number; bytesVio: number; owners: Slice[] };

  constructor(machine: Machine = currentMachine()) {
    this.machine = machine;
    this.startedAt = machine.now();
    // What was live before recording began shows as starting when it began.
    const owners: Slice[] = [];
    for (const o of machine.owners.values()) {
      owners.push({
        track: o.kind,
        name: o.label ?? `${o.kind} ${hexAddress(o.phyAddr)}`,
        start: this.startedAt,
        end: undefined,
        cat: o.kind,
        args: {
          id: o.id,
          phyAddr: hexAddress(o.phyAddr),
          size: o.size,
          blockBytes: o.blockBytes,
          cached: o.cached,
          beforeTrace: true,
        },
      });
    }
    const vio = machine.physical.vio;
    this.before = {
      bytesIon: machine.bytesInUse,
      bytesVio: (vio.allocator.capacity - vio.allocator.freeUnits) * vio.pageSize,
      owners,
    };
    machine.listeners.add(this.listener);
  }

  /** Stops recording; the trace can still be built. */
  stop(): void {
    this.machine.listeners.delete(this.listener);
  }

  /** Events recorded so far. */
  get eventCount(): number {
    return this.events.length;
  }

  /** The trace of what was recorded; slices still open end now (args.open = true). */
  toTrace(): ChromeTrace {
    const now = this.machine.now();
    const slices: Slice[] = this.before.owners.map((s) => ({ ...s, args: { ...s.args } }));
    const liveOwners = new Map<number, Slice & { blockBytes: number }>();
    for (const s of slices)
      liveOwners.set(s.args.id as number, { ...s, blockBytes: s.args.blockBytes as number });
    const registrations = new Map<string, Slice>();
    const jobs = new Map<number, Slice>();
    const counters: TraceEvent[] = [];
    let bytesIon = this.before.bytesIon;
    let bytesVio = this.before.bytesVio;
    const counter = (time: number) => {
      counters.push({
        name: 'bytes in use',
        ph: 'C',
        ts: us(time),
        pid: PID,
        tid: TRACKS.counters.tid,
        args: { ion: bytesIon, vio: bytesVio },
      });
    };
    counter(this.startedAt);
    for (const e of this.events) {
      switch (e.type) {
        case 'alloc': {
          const s = {
            track: e.kind,
            name: e.label ?? `${e.kind} ${hexAddress(e.phyAddr)}`,
            start: e.time,
            end: undefined,
            cat: e.kind,
            args: {
              id: e.id,
              phyAddr: hexAddress(e.phyAddr),
              size: e.size,
              blockBytes: e.blockBytes,
              cached: e.cached,
            },
            blockBytes: e.blockBytes,
          };
          slices.push(s);
          liveOwners.set(e.id, s);
          if (e.kind === 'allocation') bytesIon += e.blockBytes;
          else bytesVio += e.blockBytes;
          counter(e.time);
          break;
        }
        case 'free': {
          const s = liveOwners.get(e.id);
          if (s === undefined) break;
          s.end = e.time;
          liveOwners.delete(e.id);
          if (e.kind === 'allocation') bytesIon -= s.blockBytes;
          else bytesVio -= s.blockBytes;
          counter(e.time);
          break;
        }
        case 'register': {
          const s: Slice = {
            track: 'registration',
            name: `registration ${hexAddress(e.phyAddr)}`,
            start: e.time,
            end: undefined,
            cat: 'registration',
            args: { phyAddr: hexAddress(e.phyAddr), size: e.size, ownerId: e.ownerId },
          };
          slices.push(s);
          registrations.set(`${e.phyAddr}:${e.size}`, s);
          break;
        }
        case 'unregister': {
          const key = `${e.phyAddr}:${e.size}`;
          const s = registrations.get(key);
          if (s !== undefined) {
            s.end = e.time;
            registrations.delete(key);
          }
          break;
        }
        case 'flush':
          slices.push({
            track: 'flush',
            name: e.op === 'clean' ? 'CLEAN' : 'INVALIDATE',
            start: e.time,
            end: e.time + e.duration,
            cat: 'flush',
            args: { phyAddr: hexAddress(e.phyAddr), size: e.size, writtenBack: e.writtenBack },
          });
          break;
        case 'bpu-submit': {
          const s: Slice = {
            track: 'bpu',
            name: e.kernel,
            start: e.time,
            end: undefined,
            cat: 'bpu',
            args: { job: e.job, bytes: e.bytes },
          };
          slices.push(s);
          jobs.set(e.job, s);
          break;
        }
        case 'bpu-complete':
        case 'bpu-fault': {
          const s = jobs.get(e.job);
          if (s === undefined) break;
          s.end = e.time;
          if (e.type === 'bpu-fault') s.args.fault = e.message ?? 'fault';
          jobs.delete(e.job);
          break;
        }
        case 'reset':
          break;
      }
    }
    const traceEvents: TraceEvent[] = [
      { name: 'process_name', ph: 'M', ts: 0, pid: PID, tid: 0, args: { name: 'hbsys emulator' } },
    ];
    const lanesUsed = assignLanes(slices, now, traceEvents);
    for (const [track, lanes] of lanesUsed) {
      for (let k = 0; k < lanes; k++) {
        const t = TRACKS[track];
        traceEvents.push({
          name: 'thread_name',
          ph: 'M',
          ts: 0,
          pid: PID,
          tid: t.tid + k,
          args: { name: lanes === 1 ? t.name : `${t.name} ${k + 1}` },
        });
        traceEvents.push({
          name: 'thread_sort_index',
          ph: 'M',
          ts: 0,
          pid: PID,
          tid: t.tid + k,
          args: { sort_index: t.tid + k },
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
    traceEvents.push(...counters);
    return {
      traceEvents,
      displayTimeUnit: 'ms',
      otherData: { producer: 'hbsys', clock: 'ms since the emulated machine was made' },
    };
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
