/** The hbDNN contract on the emulator: ONNX Identity models, VIO buffers as external memory. */

import { emulator, useBackend } from '../../src/index.js';
import { dnnContract } from './contract.js';
import { identityModel, modelDir, writeModel } from './models.js';

dnnContract({
  name: 'emulator',
  async setup() {
    useBackend('emulator');
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
  },
  modelFiles() {
    const dir = modelDir();
    return ['copy', 'copy2'].map((name) =>
      writeModel(dir, name, identityModel([1, 2, 2, 4], 'x', 'y')),
    );
  },
  externalBuffer(size) {
    const { phyAddr } = emulator.vio.alloc(size);
    return { phyAddr, size, free: () => emulator.vio.free(phyAddr) };
  },
});
