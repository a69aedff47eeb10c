/**
 * The `hbsys` command line.
 */

import { Command, InvalidArgumentError } from 'commander';
import { backendName } from '../backend.js';
import { emulator } from '../emulator/index.js';
import { runDemo } from './demo.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function makeProgram(): Command {
  const program = new Command('hbsys')
    .description('BPU memory for Node.js: the hbSys API on a strict emulator or the board')
    .showHelpAfterError();

  program
    .command('demo')
    .description('run an end-to-end BPU memory round trip on the emulator and print the stats')
    .option('--frames <n>', 'round trips to run', positiveInt, 8)
    .option('--size <bytes>', 'bytes per buffer', positiveInt, 1 << 20)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { frames: number; size: number; json?: boolean }) => {
      await emulator.reset();
      const result = await runDemo({
        frames: opts.frames,
        size: opts.size,
        log: opts.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        const s = result.stats;
        const lines = [
          `backend: ${backendName()} (cache model ${s.cacheModel})`,
          `${result.frames} frames of ${result.bytesPerFrame} bytes in ${result.milliseconds.toFixed(1)} ms: ${result.verified ? 'every byte verified' : 'DATA MISMATCH'}`,
          `flushes: ${s.cleans} CLEAN (${s.bytesCleaned} bytes), ${s.invalidates} INVALIDATE (${s.bytesInvalidated} bytes)`,
          `BPU: ${s.bpuJobs} jobs, ${s.bpuBytes} bytes moved`,
          `heap: ${s.heapSize} bytes, ${s.bytesInUse} in use, peak ${s.peakBytesInUse}, ${s.allocationCount} live allocations`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (!result.verified) process.exitCode = 1;
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await makeProgram().parseAsync(argv, { from: 'user' });
  } catch (error) {
    process.stderr.write(`hbsys: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
}
