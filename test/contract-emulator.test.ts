/** The API contract on the emulator backend, with VIO buffers as the external memory. */

import { emulator, useBackend } from '../src/index.js';
import { apiContract } from './contract/api-contract.js';

apiContract({
  name: 'emulator',
  async setup() {
    useBackend('emulator');
    await emulator.reset();
  },
  externalBuffer(size) {
    const { phyAddr } = emulator.vio.alloc(size);
    return { phyAddr, size, free: () => emulator.vio.free(phyAddr) };
  },
});
