/**
 * The hostile-object property on the native backend, as a program of its own: the test
 * (hostile-property-native.test.ts) runs it in a child process, so that a crash in C (a
 * SIGSEGV, a koffi abort) fails the test with the case that caused it, instead of killing
 * the test runner. Prints `{ functions, buffer, tally }` as JSON on success; every case is
 * appended to HBSYS_HOSTILE_LOG before it runs.
 */

import { appendFileSync } from 'node:fs';
import { useBackend } from '../../src/index.js';
import { hostileBufferProperty } from '../contract/hostile-buffer-property.js';
import { hostileFunctionsProperty, tally } from '../contract/hostile-property.js';
import { standinExtras, standinPath } from './standin.js';

const path = standinPath();
process.env.HBSYS_LIBDNN = path;
useBackend('native');
const extras = standinExtras(path);
const log = process.env.HBSYS_HOSTILE_LOG;
const results = tally();

const world = {
  externalBuffer(size: number) {
    const phyAddr = extras.vioAlloc(size);
    return { phyAddr, size, free: () => extras.vioFree(phyAddr) };
  },
  liveCounts: () => ({
    allocations: extras.liveAllocations(),
    registrations: extras.liveRegistrations(),
  }),
  state: () => ({
    allocations: extras.liveAllocations(),
    registrations: extras.liveRegistrations(),
    invalidates: extras.flushCount(1),
    cleans: extras.flushCount(2),
  }),
  refusesStaleViews: true,
  acceptsSubRanges: true,
  onCase: log ? (d: string) => appendFileSync(log, `${d}\n`) : undefined,
  onResult: results.onResult,
};

const functions = hostileFunctionsProperty(world, Number(process.env.HBSYS_FUNCTION_CASES));
const buffer = hostileBufferProperty(world, Number(process.env.HBSYS_BUFFER_CASES));
console.log(JSON.stringify({ functions, buffer, tally: results.text() }));
