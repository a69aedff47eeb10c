/**
 * The emulated BPU: device work by physical address, completing asynchronously.
 *
 * The BPU has no cache: it reads and writes physical memory only, so it sees what the
 * CPU CLEANed and never what sits dirty in the CPU's cache. Every job declares the ranges
 * it reads and writes; each must lie inside one live allocation or VIO buffer (which
 * includes every registration), or the job rejects with an error naming the address.
 * Jobs complete in submission order.
 */

import { HB_SYS_INVALID_ARGUMENT, HbSysError } from '../status.js';
import { hex, type Machine } from './machine.js';
import type { Region } from './physical-memory.js';

/** A device access that no live memory covers. */
export class BpuFaultError extends Error {
  readonly phyAddr: bigint;
  readonly size: number;
  constructor(message: string, phyAddr: number, size: number) {
    super(message);
    this.name = 'BpuFaultError';
    this.phyAddr = BigInt(phyAddr);
    this.size = size;
  }
}

/** A range a job touches, resolved to its region. */
interface Access {
  region: Region;
  offset: number;
  size: number;
}

export class Bpu {
  private readonly machine: Machine;
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(machine: Machine) {
    this.machine = machine;
  }

  /** DMA: copy `size` bytes from `src` to `dst` (physical addresses). */
  copy(dst: bigint, src: bigint, size: number): Promise<void> {
    return this.submit(
      'copy',
      () => {
        const s = this.access('copy', 'source', src, size);
        const d = this.access('copy', 'destination', dst, size);
        return () => s.region.memory.copy(d.region.memory, d.offset, s.offset, s.offset + size);
      },
      size,
    );
  }

  /** DMA: fill `size` bytes at `dst` with `byte`. */
  fill(dst: bigint, byte: number, size: number): Promise<void> {
    return this.submit(
      'fill',
      () => {
        if (!Number.isInteger(byte) || byte < 0 || byte > 255) {
          throw new HbSysError(
            HB_SYS_INVALID_ARGUMENT,
            `bpu.fill: byte must be an integer in 0 … 255, got ${String(byte)}`,
          );
        }
        const d = this.access('fill', 'destination', dst, size);
        return () => d.region.memory.fill(byte, d.offset, d.offset + size);
      },
      size,
    );
  }

  /** Rejects every job not yet run; later submissions reject too. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Checks a job now (so that a fault names the state at submission, as the board's
   * driver does), then runs it after every earlier job.
   */
  private submit(kernel: string, prepare: () => () => void, bytes: number): Promise<void> {
    let run: () => void;
    try {
      run = prepare();
    } catch (error) {
      return Promise.reject(error);
    }
    const job = this.tail.then(
      () =>
        new Promise<void>((resolve, reject) => {
          // A macrotask, so the job completes after the submitting code has moved on, as
          // device work does.
          setImmediate(() => {
            if (this.stopped) {
              reject(new Error(`bpu.${kernel}: the emulator was reset before the job ran`));
              return;
            }
            run();
            this.machine.counters.bpuJobs++;
            this.machine.counters.bpuBytes += bytes;
            resolve();
          });
        }),
    );
    this.tail = job.catch(() => undefined);
    return job;
  }

  private access(kernel: string, role: string, phyAddr: unknown, size: unknown): Access {
    if (typeof phyAddr !== 'bigint') {
      throw new HbSysError(
        HB_SYS_INVALID_ARGUMENT,
        `bpu.${kernel}: the ${role} must be a physical address as a bigint (mem.phyAddr), ` +
          `got ${typeof phyAddr}`,
      );
    }
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 0xffff_ffff) {
      throw new HbSysError(
        HB_SYS_INVALID_ARGUMENT,
        `bpu.${kernel}: size must be an integer in 1 … 2^32-1, got ${String(size)}`,
      );
    }
    const addr = Number(phyAddr);
    const range = `[0x${hex(addr)}, 0x${hex(addr + size)})`;
    const region = this.machine.physical.regionOf(addr, size);
    const owner = region && this.machine.ownerOf(region, addr - region.base);
    if (region === undefined || owner === undefined || addr + size > owner.phyAddr + owner.size) {
      throw new BpuFaultError(
        `bpu.${kernel}: the ${role} ${range} is not inside one live allocation, ` +
          'registration or VIO buffer (freed, never allocated, or past the end)',
        addr,
        size,
      );
    }
    return { region, offset: addr - region.base, size };
  }
}
