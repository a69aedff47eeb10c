/**
 * Preloaded (`node --import`) into a script that the CLI runs: `hbsys check`, `stats`,
 * `dump` and `serve` with a script.
 *
 * - The specifier 'hbsys' resolves to this package, the one the CLI runs.
 * - The sanitizer reads its mode from the environment the CLI set (HBSYS_SANITIZE,
 *   HBSYS_STACKS, HBSYS_REPORT_FILE); nothing to do here.
 * - HBSYS_SNAPSHOT_FILE: at exit, the stats, dump and findings are written there as JSON.
 * - HBSYS_TRACE_FILE: a trace of the program's hbsys calls is written there at exit.
 * - HBSYS_LIVE=1 with an IPC channel: the state is sent to the CLI while the script runs.
 *
 * Importing the emulator creates no machine, so this changes nothing for the script
 * until it uses hbsys.
 */

import { writeFileSync } from 'node:fs';
import module from 'node:module';
import { onLedgerEvent } from '../native/ledger.js';
import { dumpHeap } from '../observe/dump.js';
import { TraceRecorder } from '../observe/trace.js';
import { watchMachine } from '../observe/watch.js';

const indexUrl = new URL('../index.js', import.meta.url).href;

type RegisterHooks = (hooks: {
  resolve: (
    specifier: string,
    context: unknown,
    next: (specifier: string, context: unknown) => unknown,
  ) => unknown;
}) => unknown;

const registerHooks = (module as unknown as { registerHooks?: RegisterHooks }).registerHooks;
if (typeof registerHooks === 'function') {
  // Node 22.15+: synchronous hooks in this thread.
  registerHooks({
    resolve: (specifier, context, next) =>
      specifier === 'hbsys'
        ? { url: indexUrl, shortCircuit: true, format: 'module' }
        : next(specifier, context),
  });
} else {
  module.register('./resolve-hook.js', import.meta.url, { data: { indexUrl } });
}

// The trace starts before the program runs: it follows every machine and the native backend.
const traceFile = process.env.HBSYS_TRACE_FILE;
if (traceFile) {
  const recorder = new TraceRecorder();
  process.on('exit', () => {
    recorder.stop();
    writeFileSync(traceFile, JSON.stringify(recorder.toTrace()));
  });
}

const snapshotFile = process.env.HBSYS_SNAPSHOT_FILE;
if (snapshotFile) {
  process.on('exit', () => {
    writeFileSync(snapshotFile, JSON.stringify({ dump: dumpHeap() }));
  });
}

if (process.env.HBSYS_LIVE === '1' && typeof process.send === 'function') {
  const send = process.send.bind(process);
  // The channel must not keep the script alive: it ends when its own work does.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
  let pending: NodeJS.Timeout | undefined;
  const changed = () => {
    if (pending !== undefined) return;
    pending = setTimeout(() => {
      pending = undefined;
      send({ type: 'state', dump: dumpHeap() });
    }, 100).unref();
  };
  watchMachine(changed);
  // On the native backend the ledger says when something changed.
  onLedgerEvent(changed);
}
