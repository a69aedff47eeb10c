/**
 * How long a command may run: until SIGINT or SIGTERM reaches hbsys, or until `--timeout`.
 *
 * A command that runs a script (check, stats, dump, serve) hands it its lifetime: when the
 * lifetime ends, the script gets the same signal (SIGTERM at a timeout), then SIGKILL if it
 * is still there after a grace period or at a second signal. So a CI timeout or a
 * supervisor that stops hbsys never leaves the script running, orphaned.
 */

/** Why a lifetime ended. */
export type EndReason =
  | { readonly kind: 'signal'; readonly signal: 'SIGINT' | 'SIGTERM' }
  | { readonly kind: 'timeout'; readonly seconds: number };

/** Exit status of a command ended by a signal, as a shell reports one: 128 + its number. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

type Listener = (reason: EndReason, times: number) => void;

export class Lifetime {
  /** The first reason it ended, once it has. */
  reason: EndReason | undefined;
  /** Resolves with the first reason it ends. */
  readonly ended: Promise<EndReason>;
  private times = 0;
  private readonly listeners = new Set<Listener>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onSignal = (signal: 'SIGINT' | 'SIGTERM') =>
    this.end({ kind: 'signal', signal });
  private resolveEnded!: (reason: EndReason) => void;

  /** Starts now: handles SIGINT and SIGTERM, and ends after `timeoutSeconds` if given. */
  constructor(timeoutSeconds?: number) {
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    if (timeoutSeconds !== undefined) {
      this.timer = setTimeout(
        () => this.end({ kind: 'timeout', seconds: timeoutSeconds }),
        timeoutSeconds * 1000,
      );
      // The deadline bounds the work; it must not keep a finished command alive.
      this.timer.unref();
    }
  }

  /**
   * Calls `listener` each time the lifetime is told to end (the first time with the
   * reason, later times for a second signal); at once if it has ended. Returns a remover.
   */
  onEnd(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.reason !== undefined) listener(this.reason, this.times);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening for signals and the deadline: the default behaviour comes back. */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private end(reason: EndReason): void {
    this.times++;
    if (this.reason === undefined) {
      this.reason = reason;
      this.resolveEnded(reason);
    }
    for (const l of this.listeners) l(this.reason, this.times);
  }
}

/** What a person reads about a reason: "interrupted by SIGTERM", "timed out after 5 s". */
export function describeEnd(reason: EndReason): string {
  return reason.kind === 'signal'
    ? `interrupted by ${reason.signal}`
    : `did not finish within ${reason.seconds} s (--timeout)`;
}
