/**
 * The error the idiomatic model API throws: an hbDNN status code, its name, and the message
 * of the C-style call that failed (what was wrong and what to do).
 */

import { type HbDNNStatusName, hbDNNGetLastError, hbDNNStatusName } from '../dnn/status.js';

/** A failed hbDNN call, or a bad argument to the model API, as an exception. */
export class HbDNNError extends Error {
  /** The hbDNN status code (`HB_DNN_*`). */
  readonly code: number;
  /** Its name, for example `HB_DNN_INVALID_ARGUMENT`. */
  readonly status: HbDNNStatusName | undefined;
  /** The message without the status name in front. */
  readonly detail: string;
  /** An error for hbDNN status `code`; `message` says what was wrong and what to do. */
  constructor(code: number, message: string) {
    const status = hbDNNStatusName(code);
    super(`${status ?? `status ${code}`}: ${message}`);
    this.name = 'HbDNNError';
    this.code = code;
    this.status = status;
    this.detail = message;
  }

  /** The error for a code just returned by the C-style function `fn`. @internal */
  static fromLastFailure(code: number, fn: string): HbDNNError {
    const last = hbDNNGetLastError();
    const detail = last !== null && last.code === code && last.fn === fn ? last.message : '';
    return new HbDNNError(code, detail === '' ? `${fn} failed` : `${fn}: ${detail}`);
  }
}

/** Throws the HbDNNError of a non-zero code returned by `fn`. @internal */
export function check(code: number, fn: string): void {
  if (code !== 0) throw HbDNNError.fromLastFailure(code, fn);
}
