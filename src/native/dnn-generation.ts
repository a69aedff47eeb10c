/**
 * Which struct generation a libdnn has: from its version where the version tells, else
 * from what the library writes into a marked buffer.
 *
 * Published headers fix three points: 1.6.1 is generation A, 1.9.7 is B, and 1.18.4, 1.18.6,
 * 1.22.6 and 1.24.5 are C. So below 1.9 is A, 1.9.x is B and 1.18 or later is C. No header of
 * 1.10 … 1.17 is public (1.12.x, 1.15.x and 1.17.x appear only in logs), so for those, and for
 * a version string hbsys cannot read, the generation is probed.
 */

import { type DnnGeneration, LAYOUTS, MAX_PROPERTIES_SIZE } from './dnn-layout.js';

/** The generation a version names, or why it must be probed. */
export type GenerationChoice = { readonly generation: DnnGeneration } | { readonly probe: string };

/** The generation of a `hbDNNGetVersion()` string such as `1.24.5_(3.15.55 HBRT)`. */
export function generationOfVersion(version: string | null): GenerationChoice {
  const m = version === null ? null : /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m === null) return { probe: `its version string ${JSON.stringify(version)} is not x.y.z` };
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major > 1 || minor >= 18) return { generation: 'C' };
  if (major === 1 && minor === 9) return { generation: 'B' };
  if (major === 1 && minor < 9) return { generation: 'A' };
  return {
    probe:
      `libdnn ${m[0]} lies between 1.9.x (generation B) and 1.18 (generation C), where the ` +
      'struct layout changed and no header is public',
  };
}

/** Bytes of each probe buffer: room for the largest generation, and a margin past it. */
export const PROBE_SIZE = 256;
/** The two marks the buffers are filled with before the library writes properties. */
export const PROBE_MARKS = [0xa5, 0x5a] as const;

/**
 * The generation whose properties the library wrote into two buffers filled with the two
 * {@link PROBE_MARKS}: a byte the library wrote holds the same value in both, a byte it left
 * alone holds the two different marks. Undefined when the written bytes fit no generation.
 *
 * The decision rests on fields, never on padding (a library may write fields one by one):
 * A writes quantiType and alignedByteSize at 112 … 119 and nothing from 120; B writes them at
 * 128 … 135 and nothing from 136; C writes quantiType, quantizeAxis and alignedByteSize at
 * 128 … 139 and nothing from 176.
 */
export function generationFromProbe(
  first: Uint8Array,
  second: Uint8Array,
): DnnGeneration | undefined {
  const written = (at: number) => first[at] === second[at];
  const all = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (!written(i)) return false;
    return true;
  };
  const none = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (written(i)) return false;
    return true;
  };
  if (!none(MAX_PROPERTIES_SIZE, PROBE_SIZE)) return undefined;
  if (all(128, 140)) return 'C';
  if (all(128, 136) && none(LAYOUTS.B.propertiesSize, PROBE_SIZE)) return 'B';
  if (all(112, 120) && none(LAYOUTS.A.propertiesSize, PROBE_SIZE)) return 'A';
  return undefined;
}
