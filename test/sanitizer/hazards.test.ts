/**
 * The sanitizer's checks on their own: Hazards needs of a machine only what
 * SanitizedMachine names (who owns an address, the jobs in flight, the cache model in use),
 * so a hand-made stand-in with a job, an owner and one region drives each check here, with
 * no Machine, no board and no BPU. The findings are those a program gets.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FindingsLog } from '../../src/emulator/findings.js';
import { Hazards, type SanitizedMachine } from '../../src/emulator/hazards.js';
import type { InFlightJob } from '../../src/emulator/machine.js';
import type { Mapping, Owner } from '../../src/emulator/mappings.js';
import { ION_HEAP_BASE, Region } from '../../src/emulator/physical-memory.js';
import { Sanitizer } from '../../src/emulator/sanitizer.js';

const SIZE = 1 << 16;

/** A stand-in machine: one region, the owners and jobs given, the sanitizer in report mode. */
function machine(owners: Owner[] = [], jobs: InFlightJob[] = []) {
  const region = new Region('ion', ION_HEAP_BASE, SIZE, 4096, true);
  const log = new FindingsLog();
  const inFlight = new Set(jobs);
  const host: SanitizedMachine = {
    sanitizer: new Sanitizer('report', false, log),
    strict: true,
    inFlight,
    inFlightOver(phyAddr, size) {
      for (const job of inFlight) {
        for (const range of job.ranges) {
          if (phyAddr < range.phyAddr + range.size && range.phyAddr < phyAddr + size) {
            return { job, range };
          }
        }
      }
      return undefined;
    },
    ownerOf: (_region, offset) =>
      owners.find((o) => o.offset <= offset && offset < o.offset + o.size),
    owners: new Map(owners.map((o) => [o.id, o])),
  };
  return { region, log, hazards: new Hazards(host), host };
}

/** An allocation as the checks read it (the fields a Mapping shows them). */
function allocation(region: Region, offset: number, size: number, cached: boolean): Owner {
  return {
    kind: 'allocation',
    id: offset + 1,
    region,
    phyAddr: region.base + offset,
    offset,
    size,
    blockBytes: size,
    cached,
    label: 'frame',
    allocStack: undefined,
    registrations: new Set(),
  } as unknown as Owner;
}

describe('Hazards through SanitizedMachine alone', () => {
  test('a flush of uncached memory a job is using: redundant-flush and in-flight', () => {
    const job: InFlightJob = {
      id: 7,
      kernel: 'bpu.copy',
      ranges: [{ phyAddr: ION_HEAP_BASE + 64, size: 64 }],
    };
    const { region, log, hazards } = machine([], [job]);
    const m: Mapping = allocation(region, 0, 4096, false);
    hazards.flushing('hbSysFlushMem', 'clean', m, 0, 4096);
    const found = log.list();
    assert.deepEqual(
      found.map((f) => f.kind),
      ['redundant-flush', 'in-flight'],
    );
    assert.match(found[1]!.message, /BPU job #7 \(bpu\.copy\)/);
    assert.equal(found[1]!.where, 'hbSysFlushMem');
  });

  test('its twin: cached memory, no job, nothing written: no finding', () => {
    const { region, log, hazards } = machine();
    hazards.flushing('hbSysFlushMem', 'clean', allocation(region, 0, 4096, true), 0, 4096);
    hazards.flushing('hbSysFlushMem', 'invalidate', allocation(region, 0, 4096, true), 0, 4096);
    assert.deepEqual(log.list(), []);
  });

  test('INVALIDATE of lines the CPU wrote and never CLEANed: invalidate-dirty', () => {
    const { region, log, hazards } = machine();
    region.cache[128] = 1; // a CPU store through the cache: line 2 is dirty
    hazards.flushing('hbSysFlushMem', 'invalidate', allocation(region, 0, 4096, true), 0, 4096);
    const [f] = log.list();
    assert.equal(f?.kind, 'invalidate-dirty');
    assert.equal(f.phyAddr, BigInt(ION_HEAP_BASE + 128));
    assert.equal(f.size, 64);
  });

  test('the note after an INVALIDATE: its lines are no longer stale, and the epoch moved', () => {
    const { region, hazards, host } = machine();
    const device = host.sanitizer.device;
    device.mark(region, 0, 256);
    const epoch = host.sanitizer.epoch;
    hazards.invalidated(region, 0, 128);
    assert.deepEqual(device.marked(region, 0, 256), [128, 192]);
    assert.equal(host.sanitizer.epoch, epoch + 1);
  });

  test('a device write, then a CPU read through the cache: cpu-read-stale', () => {
    const { region, log, hazards } = machine();
    const m = allocation(region, 0, 4096, true);
    hazards.deviceWriting(region, 256, 64);
    hazards.cpuRead('hbSysReadMem', m, 0, 4096);
    const [f] = log.list();
    assert.equal(f?.kind, 'cpu-read-stale');
    assert.equal(f.phyAddr, BigInt(ION_HEAP_BASE + 256));
  });

  test('its twin: the INVALIDATE note between them: no finding', () => {
    const { region, log, hazards } = machine();
    const m = allocation(region, 0, 4096, true);
    hazards.deviceWriting(region, 256, 64);
    hazards.invalidated(region, 0, 4096);
    hazards.cpuRead('hbSysReadMem', m, 0, 4096);
    assert.deepEqual(log.list(), []);
  });

  test('at exit, each live owner is a leak, named by its label', () => {
    const region = new Region('ion', ION_HEAP_BASE, SIZE, 4096, true);
    const { log, hazards } = machine([allocation(region, 4096, 100, true)]);
    hazards.leaks('exit');
    const [f] = log.list();
    assert.equal(f?.kind, 'leak');
    assert.equal(f.label, 'frame');
    assert.equal(f.phyAddr, BigInt(ION_HEAP_BASE + 4096));
    assert.match(f.message, /100 bytes of cached BPU memory .* still allocated at exit/);
  });
});
