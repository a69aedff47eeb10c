/**
 * `npm run bench [-- --quick]`: runs the suite, prints its tables and the summary, and
 * writes every figure with the machine's details to bench/results/.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './measure.js';
import { formatReport, runBenchSuite } from './suite.js';

const quick = process.argv.includes('--quick');
const report = await runBenchSuite({
  quick,
  onProgress: (fraction, step) => {
    process.stderr.write(`[${(fraction * 100).toFixed(0).padStart(3)}%] ${step}\n`);
  },
});
console.log(formatReport(report));
const dir = join(repoRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
const stamp = report.machine.date.replace(/[:.]/g, '-');
const file = join(dir, `bench-${quick ? 'quick-' : ''}${stamp}.json`);
const json = `${JSON.stringify(report, null, 2)}\n`;
writeFileSync(file, json);
writeFileSync(join(dir, 'latest.json'), json);
console.log(`\nJSON: ${file}`);
