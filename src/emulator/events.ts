/**
 * What happens on the emulated machine, as events for observers (trace, live map,
 * sanitizer report). Emitting costs nothing while nobody listens.
 */

import type { FindingKind, FindingSeverity } from './sanitizer.js';

/** Fields every event has. */
interface EventBase {
  /** Milliseconds since the machine was made (performance.now() based). */
  readonly time: number;
}

export type MachineEvent =
  | (EventBase & {
      readonly type: 'alloc';
      readonly id: number;
      readonly kind: 'allocation' | 'vio';
      readonly phyAddr: number;
      readonly size: number;
      readonly blockBytes: number;
      readonly cached: boolean;
      readonly label: string | undefined;
    })
  | (EventBase & {
      readonly type: 'free';
      readonly id: number;
      readonly kind: 'allocation' | 'vio';
      readonly phyAddr: number;
      readonly size: number;
    })
  | (EventBase & {
      readonly type: 'register' | 'unregister';
      readonly phyAddr: number;
      readonly size: number;
      readonly ownerId: number;
      /** The registration's label (its own, else its owner's); on 'register' only. */
      readonly label?: string | undefined;
    })
  | (EventBase & {
      readonly type: 'flush';
      readonly op: 'clean' | 'invalidate';
      readonly phyAddr: number;
      readonly size: number;
      readonly writtenBack: number;
      readonly duration: number;
    })
  | (EventBase & {
      readonly type: 'bpu-submit' | 'bpu-complete' | 'bpu-fault';
      readonly job: number;
      readonly kernel: string;
      readonly bytes: number;
      readonly message?: string;
    })
  | (EventBase & {
      /** A new sanitizer finding (repeats of one already found are counted, not sent). */
      readonly type: 'finding';
      readonly kind: FindingKind;
      readonly severity: FindingSeverity;
      readonly phyAddr: number;
      readonly size: number;
      /** The call or job that revealed it. */
      readonly where: string;
      readonly message: string;
    })
  | (EventBase & { readonly type: 'reset' });

export type MachineListener = (event: MachineEvent) => void;
