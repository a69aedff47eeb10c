/** Hostile callers on the native backend, over the C stand-in for libdnn, case by case. */

import { useBackend } from '../../src/index.js';
import { hostileContract } from '../contract/hostile-contract.js';
import { standinExtras, standinPath } from './standin.js';

const path = standinPath();
const extras = standinExtras(path);

hostileContract({
  name: 'native (C stand-in)',
  setup() {
    process.env.HBSYS_LIBDNN = path;
    useBackend('native');
  },
  externalBuffer(size) {
    const phyAddr = extras.vioAlloc(size);
    return { phyAddr, size, free: () => extras.vioFree(phyAddr) };
  },
  liveCounts: () => ({
    allocations: extras.liveAllocations(),
    registrations: extras.liveRegistrations(),
  }),
  refusesStaleViews: true,
});
