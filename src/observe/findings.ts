/**
 * The sanitizer's findings as observers see them: a plain-JSON shape with addresses as hex
 * strings, so stats, dumps, the live page and the CLI share one form.
 */

import { emulator, type Finding } from '../emulator/index.js';

/** A finding in JSON: bigints as `0x…` strings, everything else as it was. */
export type FindingJson = Record<string, unknown> & { kind: string; message: string };

/** The sanitizer's findings so far (none while it is off). */
export function currentFindings(): Finding[] {
  return emulator.findings();
}

/** Count of findings per kind. */
export function countByKind(findings: readonly { kind: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  return counts;
}

/** A value made JSON-safe: bigints become `0x…` hex strings, recursively. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

/** The findings as JSON objects. */
export function findingsJson(findings: readonly Finding[] = currentFindings()): FindingJson[] {
  return findings.map((f) => jsonSafe(f) as FindingJson);
}
