/**
 * Which plane a mapping shows, and what a flush of it may assume. A registration is always
 * cached (hbSysRegisterMem maps memory cached, as on the board), an allocation as it was
 * made, a VIO buffer always. The planes themselves are physical-memory.ts's.
 */

import type { Mapping } from '../mappings.js';
import { REF_CHUNK } from '../physical-memory.js';

/** Whether the CPU reaches `m` through the cache: a registration, or a cached owner. */
export function throughCache(m: Mapping): boolean {
  return m.kind === 'registration' || m.cached;
}

/**
 * Whether a flush of `m` may keep the CPU copy's reference in memory (maintenance.ts):
 * only where the machine sees every writer of the memory (cached allocations and VIO
 * buffers; the CPU writes uncached allocations directly, unseen), in whole 4 KiB chunks.
 * The caller adds the third condition, which only it knows: no BPU job in flight over the
 * range.
 */
export function referenceMayBeMemory(m: Mapping): boolean {
  const owner = m.kind === 'registration' ? m.owner : m;
  if (!(owner.kind === 'vio' || owner.cached)) return false;
  return owner.offset % REF_CHUNK === 0 && owner.blockBytes % REF_CHUNK === 0;
}
