/**
 * The sanitizer's findings as observers see them: a plain-JSON shape with addresses in the
 * one hex format (see units.ts), so stats, dumps, the live page and the CLI share one form.
 */

import { emulator, type Finding } from '../emulator/index.js';
import { hexAddress, normalHex } from './units.js';

/** A finding in JSON: bigints as `0x…` strings (at least 8 digits), everything else as it was. */
export type FindingJson = Record<string, unknown> & {
  /** The kind of finding (`leak`, `device-read-dirty`, …). */
  kind: string;
  /** What happened, where, and what to do. */
  message: string;
};

/** How bad a finding is: `error` for corruption, `warning` for waste (a redundant flush). */
export type Severity = 'error' | 'warning';

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

/**
 * A value made JSON-safe: bigints become hex strings, recursively, and the string of an
 * address field (`phyAddr`, `…Addr`) takes the one format (a report written by another
 * version may differ).
 */
export function jsonSafe(value: unknown, key = ''): unknown {
  if (typeof value === 'bigint') return hexAddress(value);
  if (typeof value === 'string') return /addr$/i.test(key) ? normalHex(value) : value;
  if (Array.isArray(value)) return value.map((v) => jsonSafe(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v, k);
    return out;
  }
  return value;
}

/** The findings as JSON objects. */
export function findingsJson(findings: readonly Finding[] = currentFindings()): FindingJson[] {
  return findings.map((f) => jsonSafe(f) as FindingJson);
}

/** A finding's severity; a finding without one (made before severities existed) is an error. */
export function severityOf(finding: object): Severity {
  const { severity } = finding as { severity?: unknown };
  return severity === 'warning' ? 'warning' : 'error';
}

/**
 * Whether a finding fails `hbsys check`: errors always; warnings too with `failOn` 'warning'
 * (strict).
 */
export function failsCheck(finding: object, failOn: Severity): boolean {
  return failOn === 'warning' || severityOf(finding) === 'error';
}
