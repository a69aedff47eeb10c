/**
 * The hostile-object property on the emulator backend: careless and malicious arguments to
 * the eight functions and the buffer API (see test/contract/hostile-property.ts).
 */

import { before, test } from 'node:test';
import { emulator, useBackend } from '../src/index.js';
import { hostileBufferProperty } from './contract/hostile-buffer-property.js';
import { HOSTILE_CASES, hostileFunctionsProperty, tally } from './contract/hostile-property.js';

const FUNCTION_CASES = HOSTILE_CASES.functions;
const BUFFER_CASES = HOSTILE_CASES.buffer;

const results = tally();

const world = {
  onResult: results.onResult,
  externalBuffer(size: number) {
    const { phyAddr } = emulator.vio.alloc(size);
    return { phyAddr, size, free: () => emulator.vio.free(phyAddr) };
  },
  liveCounts() {
    const s = emulator.stats();
    return { allocations: s.allocationCount, registrations: s.registrationCount };
  },
  state: () => emulator.stats(),
  refusesStaleViews: false,
  acceptsSubRanges: true,
};

before(async () => {
  useBackend('emulator');
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
});

test(`hostile arguments to the eight functions (${FUNCTION_CASES} cases)`, () => {
  const cases = hostileFunctionsProperty(world, FUNCTION_CASES);
  console.log(`# hostile cases, eight functions, emulator: ${cases} (${results.text()})`);
});

test(`hostile arguments to the buffer API (${BUFFER_CASES} cases)`, () => {
  const cases = hostileBufferProperty(world, BUFFER_CASES);
  console.log(`# hostile cases, buffer API, emulator: ${cases}`);
});

test('the same with the sanitizer on (report mode): its accessor for virAddr included', async () => {
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'report' });
  const sanitized = {
    ...world,
    onResult: undefined,
    // Failing calls are findings (invalid frees, stale handles): everything else must stay.
    state: () => {
      const { findingsByKind: _kinds, findingsBySeverity: _severities, ...rest } = emulator.stats();
      return rest;
    },
    definesVirAddr: true,
  };
  const cases =
    hostileFunctionsProperty(sanitized, FUNCTION_CASES / 5) +
    hostileBufferProperty(sanitized, BUFFER_CASES / 5);
  console.log(`# hostile cases, sanitizer on, emulator: ${cases}`);
  emulator.clearFindings();
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
});
