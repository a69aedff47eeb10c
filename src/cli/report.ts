/**
 * The report of `hbsys check`: one report, printed by the CLI (the program under check does
 * not print its own), addresses in the one hex format, each finding with its severity and
 * the stacks the sanitizer recorded (source-mapped: the program runs with
 * `--enable-source-maps`).
 *
 * Whether the findings fail the check: errors always do; warnings (waste, such as a redundant
 * flush) only with `--fail-on warning`. A finding without a severity counts as an error.
 */

import { type FindingJson, failsCheck, type Severity, severityOf } from '../observe/findings.js';

/** The findings as a person reads them. */
export function findingsText(findings: readonly FindingJson[], failOn: Severity = 'error'): string {
  if (findings.length === 0) return 'hbsys check: no findings';
  const lines = [`hbsys check: ${findings.length} finding(s)`];
  findings.forEach((f, i) => {
    const where = typeof f.phyAddr === 'string' ? ` at ${f.phyAddr}` : '';
    const size = typeof f.size === 'number' ? `, ${f.size} bytes` : '';
    const label = typeof f.label === 'string' ? ` '${f.label}'` : '';
    const call = typeof f.where === 'string' ? ` (in ${f.where})` : '';
    lines.push(`  ${i + 1}. ${f.kind}${where}${size}${label}${call}: ${f.message}`);
    lines.push(`     severity: ${severityOf(f)}`);
    for (const [key, title] of [
      ['stack', 'at'],
      ['allocStack', 'allocated at'],
      ['freeStack', 'freed at'],
    ] as const) {
      const stack = f[key];
      if (typeof stack !== 'string' || stack === '') continue;
      lines.push(`     ${title}:`);
      for (const frame of stack.split('\n')) lines.push(`       ${frame.trim()}`);
    }
  });
  const errors = findings.filter((f) => severityOf(f) === 'error').length;
  const warnings = findings.length - errors;
  const failing = findings.filter((f) => failsCheck(f, failOn)).length;
  lines.push(
    `summary: ${errors} error(s), ${warnings} warning(s); ` +
      (failing === 0
        ? `the check passes (it fails on ${failOn === 'warning' ? 'warnings and errors' : 'errors'})`
        : `the check fails on ${failing} of them` +
          (failOn === 'error' ? '' : ' (--fail-on warning)')),
  );
  return lines.join('\n');
}

/** The findings that fail the check with `--fail-on failOn`. */
export function failingFindings(findings: readonly FindingJson[], failOn: Severity): FindingJson[] {
  return findings.filter((f) => failsCheck(f, failOn));
}
