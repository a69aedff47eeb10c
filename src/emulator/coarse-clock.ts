/**
 * The time an allocation's row records (dumps show it), read from the system clock at most
 * once per {@link READS_PER_CLOCK} allocations of one synchronous run of code.
 *
 * `performance.now()` costs about 40 ns here, several percent of an allocation and free of
 * 4 KiB, for a figure that dumps show to the millisecond. A reading is reused until it has
 * served {@link READS_PER_CLOCK} reads, until {@link CoarseClock.elapsed} says that slow
 * work ran (a large zeroing), or until the current synchronous run of code ends (a
 * microtask forgets it): so a time is never older than the latest of those, and an
 * allocation after any `await`, timer or event reads the clock afresh. A program that
 * computes for a long time between two allocations without yielding may see the second
 * stamped with the first's time (at most READS_PER_CLOCK - 1 times in a row).
 */

/** How many reads one clock reading serves. */
export const READS_PER_CLOCK = 16;

export class CoarseClock {
  private reading = 0;
  /** Reads the reading may still serve. */
  private left = 0;
  private forgetQueued = false;
  private readonly forget = (): void => {
    this.left = 0;
    this.forgetQueued = false;
  };

  /** `performance.now()`, or a reading of it taken earlier in this synchronous run. */
  now(): number {
    if (this.left > 0) {
      this.left--;
      return this.reading;
    }
    this.reading = performance.now();
    this.left = READS_PER_CLOCK - 1;
    if (!this.forgetQueued) {
      this.forgetQueued = true;
      queueMicrotask(this.forget);
    }
    return this.reading;
  }

  /** Work that takes long enough to show ran since the last read: the next one reads anew. */
  elapsed(): void {
    this.left = 0;
  }
}
