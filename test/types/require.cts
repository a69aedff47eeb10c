/**
 * The type test from CommonJS: `require('hbsys')` (Node 20.19+ and 22.12+ load the ES
 * module; TypeScript 5.8+ types it under `module: nodenext`). Compiled, never run.
 */

import hbsys = require('hbsys');

const mem = {} as hbsys.hbSysMem;
const code: hbsys.HbSysStatusCode = hbsys.hbSysAllocCachedMem(mem, 64);
hbsys.hbSysFlushMem(mem, hbsys.HB_SYS_MEM_CACHE_CLEAN);
// @ts-expect-error 3 is not a flush flag
hbsys.hbSysFlushMem(mem, 3);
const native: hbsys.NativeBackend = hbsys.useBackend('native');
const view: Float32Array<ArrayBufferLike> = hbsys.allocate(64).view(Float32Array);

export = { code, native, view };
