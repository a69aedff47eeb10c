/**
 * The API contract on the native backend, over the C stand-in for libdnn (a test double
 * for the ABI), with the stand-in's VIO buffers as the external memory.
 */

import { useBackend } from '../../src/index.js';
import { apiContract } from '../contract/api-contract.js';
import { standinExtras, standinPath } from './standin.js';

const path = standinPath();
const extras = standinExtras(path);

apiContract({
  name: 'native (C stand-in)',
  setup() {
    process.env.HBSYS_LIBDNN = path;
    useBackend('native');
  },
  externalBuffer(size) {
    const phyAddr = extras.vioAlloc(size);
    return { phyAddr, size, free: () => extras.vioFree(phyAddr) };
  },
});
