/**
 * The hbDNN contract on the native backend, through the public functions, over the C
 * stand-in (X5's libdnn 1.24.5 layout) and its model format; its VIO buffers as external
 * memory.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '../../src/index.js';
import { dnnContract } from '../dnn/contract.js';
import { modelDir } from '../dnn/models.js';
import { standinExtras, standinPath } from './standin.js';

const path = standinPath();
const extras = standinExtras(path);

const COPY = (name: string) => `model ${name}
input  x type=F32 layout=NCHW valid=1x2x2x4
output y type=F32 layout=NCHW valid=1x2x2x4 k=1 b=0
`;

dnnContract({
  name: 'native (C stand-in)',
  setup() {
    process.env.HBSYS_LIBDNN = path;
    useBackend('native');
  },
  modelFiles() {
    const file = join(modelDir(), 'copy.bin');
    writeFileSync(file, `hbsys-standin-model 1\n${COPY('copy')}${COPY('copy2')}`);
    return [file];
  },
  externalBuffer(size) {
    const phyAddr = extras.vioAlloc(size);
    return { phyAddr, size, free: () => extras.vioFree(phyAddr) };
  },
});
