/**
 * Reading a saved heap dump back, for `hbsys map`: any dump an hbsys wrote (version 1 or 2),
 * checked field by field, so that a file that is not one (another tool's JSON, a truncated
 * file, a hand edit) is refused with what is wrong instead of drawing garbage or crashing.
 *
 * Version 1 differs in one way: a block's `size` was its whole pages and `requestedSize` the
 * bytes asked for; it is read into version 2's `blockBytes` and `size`.
 */

import type { MapBlockInput, MapDumpInput, MapRegionInput } from './map-svg.js';

/** What `hbsys map` needs of a dump, and a line that says what it shows. */
export interface ReadDump extends MapDumpInput {
  version: number;
  backend: string;
  /** A line for the map: the allocations and bytes of the stats, when the dump has them. */
  subtitle: string;
}

const HEX = /^0x[0-9a-f]+$/i;
const KINDS = new Set(['allocation', 'vio', 'free']);

/** The dump in `text`, or a message that says what is wrong with it. */
export function readDump(text: string): ReadDump | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return `it is not JSON (${(error as Error).message})`;
  }
  if (!isRecord(data) || data.format !== 'hbsys-heap-dump') {
    const format =
      isRecord(data) && typeof data.format === 'string' ? ` (format '${data.format}')` : '';
    return `it is JSON but not an hbsys heap dump${format}: its "format" must be "hbsys-heap-dump"`;
  }
  const version = data.version;
  if (version !== 1 && version !== 2) {
    return typeof version === 'number' && version > 2
      ? `it is a heap dump of version ${version}, written by a newer hbsys; this one reads versions 1 and 2: upgrade hbsys`
      : `its "version" must be 1 or 2, got ${JSON.stringify(version)}`;
  }
  if (!Array.isArray(data.regions)) return '"regions" must be an array';
  const regions: MapRegionInput[] = [];
  for (const [i, r] of data.regions.entries()) {
    const region = readRegion(r, version, `regions[${i}]`);
    if (typeof region === 'string') return region;
    regions.push(region);
  }
  let mappings: NonNullable<MapDumpInput['mappings']>[number][] | undefined;
  if (version === 2) {
    if (!Array.isArray(data.mappings)) return '"mappings" must be an array';
    mappings = [];
    for (const [i, m] of data.mappings.entries()) {
      const at = `mappings[${i}]`;
      if (!isRecord(m)) return `${at} must be an object`;
      if (m.kind !== 'allocation' && m.kind !== 'vio' && m.kind !== 'registration')
        return `${at}.kind must be allocation, vio or registration`;
      if (typeof m.phyAddr !== 'string' || !HEX.test(m.phyAddr))
        return `${at}.phyAddr must be a hex string`;
      if (!isBytes(m.size)) return `${at}.size must be a number of bytes`;
      if (m.blockBytes !== null && !isBytes(m.blockBytes))
        return `${at}.blockBytes must be bytes or null`;
      if (typeof m.cached !== 'boolean') return `${at}.cached must be a boolean`;
      if (m.label !== null && typeof m.label !== 'string')
        return `${at}.label must be a string or null`;
      mappings.push({
        kind: m.kind,
        phyAddr: m.phyAddr,
        size: m.size,
        blockBytes: m.blockBytes as number | null,
        cached: m.cached,
        label: m.label as string | null,
      });
    }
  }
  const backend = typeof data.backend === 'string' ? data.backend : 'emulator';
  return { version, backend, regions, mappings, subtitle: subtitleOf(data.stats, backend) };
}

function readRegion(r: unknown, version: 1 | 2, at: string): MapRegionInput | string {
  if (!isRecord(r)) return `${at} must be an object`;
  if (typeof r.name !== 'string') return `${at}.name must be a string`;
  if (typeof r.base !== 'string' || !HEX.test(r.base)) return `${at}.base must be a hex string`;
  if (!isBytes(r.size)) return `${at}.size must be a number of bytes`;
  if (!Array.isArray(r.blocks)) return `${at}.blocks must be an array`;
  const blocks: MapBlockInput[] = [];
  for (const [j, b] of r.blocks.entries()) {
    const where = `${at}.blocks[${j}]`;
    if (!isRecord(b)) return `${where} must be an object`;
    if (typeof b.kind !== 'string' || !KINDS.has(b.kind))
      return `${where}.kind must be allocation, vio or free`;
    if (typeof b.phyAddr !== 'string' || !HEX.test(b.phyAddr))
      return `${where}.phyAddr must be a hex string`;
    // Version 1: size was the block's pages, requestedSize the bytes asked for.
    const blockBytes = version === 1 ? b.size : b.blockBytes;
    const size = version === 1 ? b.requestedSize : b.size;
    if (!isBytes(blockBytes))
      return `${where}.${version === 1 ? 'size' : 'blockBytes'} must be a number of bytes`;
    if (size !== null && !isBytes(size))
      return `${where}.${version === 1 ? 'requestedSize' : 'size'} must be bytes or null`;
    if (b.cached !== null && typeof b.cached !== 'boolean')
      return `${where}.cached must be a boolean or null`;
    if (b.label !== null && typeof b.label !== 'string')
      return `${where}.label must be a string or null`;
    if (!Array.isArray(b.registrations)) return `${where}.registrations must be an array`;
    blocks.push({
      kind: b.kind as MapBlockInput['kind'],
      phyAddr: b.phyAddr,
      blockBytes,
      size: size as number | null,
      cached: b.cached as boolean | null,
      label: b.label as string | null,
      registrations: b.registrations,
    });
  }
  return { name: r.name, base: r.base, size: r.size, blocks };
}

function subtitleOf(stats: unknown, backend: string): string {
  if (!isRecord(stats)) return '';
  const n = stats.allocationCount;
  const bytes = stats.bytesRequested;
  if (typeof n !== 'number' || typeof bytes !== 'number') return '';
  return `${backend}: ${n} live allocation(s), ${bytes} bytes asked for`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isBytes(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
