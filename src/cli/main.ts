/**
 * The `hbsys` command line. Exit codes (also in the README, section "CLI"):
 *   0  success
 *   1  problems found: findings that fail `check` (errors; warnings too with --fail-on
 *      warning), or, in the demo, any finding or output that differs from the reference
 *   2  bad usage: unknown command or option, bad argument value, script not found
 *   3  the script that was run failed (non-zero exit or a signal) and had no findings, or
 *      did not finish within --timeout
 *   4  hbsys itself could not do the job (port in use, --out not writable, …)
 *   130, 143  hbsys was interrupted by SIGINT or SIGTERM (the script it ran was ended)
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { backendName, useBackend } from '../backend.js';
import { emulator } from '../emulator/index.js';
import { dumpHeap, type HeapDump } from '../observe/dump.js';
import { readDump } from '../observe/dump-read.js';
import type { Severity } from '../observe/findings.js';
import { formatBytes, mapRegions, renderMapSvg } from '../observe/map-svg.js';
import type { DetailedStats } from '../observe/stats.js';
import { TraceRecorder } from '../observe/trace.js';
import { watchMachine } from '../observe/watch.js';
import { type MapState, startMapServer } from '../viewer/server.js';
import { type DemoOptions, type DemoResult, runDemo } from './demo.js';
import { describeEnd, type EndReason, Lifetime, SIGNAL_EXIT } from './lifetime.js';
import { progressBar } from './progress.js';
import { failingFindings, findingsText } from './report.js';
import { checkScript, runScript, type ScriptRun } from './run-script.js';

export const EXIT = { ok: 0, problems: 1, usage: 2, scriptFailed: 3, failed: 4 } as const;

/** A mistake in how hbsys was called: exit code 2. */
export class UsageError extends Error {}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  }
  return n;
}

/** NV12 has one UV pair per 2x2 pixels, so frame sides are even. */
function evenSide(value: string): number {
  const n = positiveInt(value);
  if (n % 2 !== 0 || n > 8192) {
    throw new InvalidArgumentError(
      `expected an even number of pixels from 2 to 8192 (NV12), got '${value}'`,
    );
  }
  return n;
}

/** The detector's input: sides in multiples of 32 (its feature pyramid halves them 5 times). */
function tensorSize(value: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(value);
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  const side = (n: number) => n >= 32 && n <= 2048 && n % 32 === 0;
  if (!m || !side(width) || !side(height)) {
    throw new InvalidArgumentError(
      `expected WIDTHxHEIGHT with each side a multiple of 32 in 32 … 2048 (the text detector's ` +
        `input), e.g. 320x256, got '${value}'`,
    );
  }
  return { width, height };
}

/** A file or directory name: an empty one is a mistake, not "stdout" or "nowhere". */
function pathName(value: string): string {
  if (value === '') throw new InvalidArgumentError('expected a path, got an empty string');
  return value;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 1e6) {
    throw new InvalidArgumentError(`expected a number of seconds above 0, got '${value}'`);
  }
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new InvalidArgumentError(
      `expected a port number in 0 … 65535 (0: any free port), got '${value}'`,
    );
  }
  return n;
}

interface DemoFlags {
  frames: number;
  width: number;
  height: number;
  tensor: { width: number; height: number };
}

function addDemoOptions(cmd: Command, frames: number): Command {
  return cmd
    .option('--frames <n>', 'frames the demo runs', positiveInt, frames)
    .option('--width <px>', 'camera frame width (even)', evenSide, 640)
    .option('--height <px>', 'camera frame height (even)', evenSide, 480)
    .addOption(
      new Option(
        '--tensor <WxH>',
        "the model's input size (multiples of 32); the camera's size: no hbDNNResize",
      )
        .argParser(tensorSize)
        .default({ width: 320, height: 256 }, '320x256'),
    );
}

function demoOptions(flags: DemoFlags): DemoOptions {
  const resized = flags.width !== flags.tensor.width || flags.height !== flags.tensor.height;
  if (resized && flags.width % 16 !== 0) {
    throw new UsageError(
      `--width ${flags.width}: hbDNNResize reads camera rows in steps of 16 bytes, so a frame ` +
        `that is resized must be a multiple of 16 wide (or give --tensor the camera's size)`,
    );
  }
  return {
    frames: flags.frames,
    width: flags.width,
    height: flags.height,
    tensorWidth: flags.tensor.width,
    tensorHeight: flags.tensor.height,
  };
}

/** A fresh machine for the demo, with the sanitizer on so that "0 findings" means something. */
/**
 * The demo's camera and BPU are the emulator's, so it runs on the emulator whatever
 * HBSYS_BACKEND says (and the summary names the backend it ran on).
 */
async function demoMachine(): Promise<void> {
  if (process.env.HBSYS_BACKEND === 'native') {
    process.stderr.write(
      'hbsys demo: the demo needs the emulated camera and BPU, so it runs on the emulator ' +
        '(HBSYS_BACKEND=native applies to your own programs)\n',
    );
  }
  useBackend('emulator');
  await emulator.reset({ sanitize: 'report' });
}

/** Runs the demo with a progress bar on stderr (terminals only). */
async function demoWithProgress(flags: DemoFlags): Promise<DemoResult> {
  const bar = progressBar();
  try {
    return await runDemo({ ...demoOptions(flags), onFrame: (i, n) => bar.update(i, n, 'frames') });
  } finally {
    bar.end();
  }
}

function ms(v: number): string {
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

export function demoSummary(r: DemoResult): string {
  const s = r.stats;
  const per = (v: number) => ms(v / r.timedFrames);
  const st = r.stages;
  const last = r.lastFrame;
  const boxes = last.boxes
    .map((b) => `${b.width}x${b.height} at (${b.x}, ${b.y}) p=${b.score.toFixed(2)}`)
    .join(', ');
  const resize = r.resized ? ` -> hbDNNResize ${r.tensorWidth}x${r.tensorHeight}` : '';
  return [
    `hbsys demo: ${r.frames} frames, camera ${r.width}x${r.height} NV12 -> register${resize} -> ` +
      `hbDNNInfer ${r.model.name} (PP-OCRv4 text detector, NV12 input) -> INVALIDATE + CPU text boxes`,
    `  backend           ${backendName()} (cache model ${s.cacheModel})`,
    `  model             ${r.model.source}, compiled for NV12 ${r.tensorWidth}x${r.tensorHeight} by its config`,
    `  frames/s          ${r.framesPerSecond.toFixed(1)} (pipeline; the check is not counted)` +
      (r.frames > 1 ? '; after the first frame' : ''),
    `  first frame       ${ms(r.firstFrameMs)} (each stage's first run; the model was warmed up at load)`,
    `  per frame         camera ${per(st.camera)}, register ${per(st.register)}, ` +
      (r.resized ? `resize ${per(st.resize)}, ` : '') +
      `infer ${per(st.infer)}, post-process ${per(st.postProcess)}, check ${per(st.verify)}`,
    `  load              hbDNNInitializeFromFiles ${ms(r.loadMs.hbsys)}, reference session ${ms(r.loadMs.reference)}`,
    `  wall time         ${ms(r.wallMs)}`,
    `  text lines        ${r.textLines.found}/${r.textLines.drawn} found (the boxes over a line cover it: IoU >= 0.5)`,
    `  last frame        ${last.boxes.length} box(es): ${boxes || 'none'}`,
    `  bytes moved       camera ${formatBytes(r.bytes.camera)}, BPU ${formatBytes(r.bytes.bpu)} (read + written)`,
    `  flushes           ${s.cleans} CLEAN (${formatBytes(s.bytesCleaned)}), ${s.invalidates} INVALIDATE ` +
      `(${formatBytes(s.bytesInvalidated)})`,
    `  BPU jobs          ${s.bpuJobs}`,
    `  heap              ${formatBytes(s.heapSize)}, peak ${formatBytes(s.peakBytesInUse)} in use, ` +
      `${s.allocationCount} allocations live after the run, ${s.allocs} allocs, ${s.frees} frees`,
    `  registrations     ${s.registrations} (${s.registrationCount} live after the run)`,
    `  verified          ${r.framesVerified}/${r.frames} frames match onnxruntime-web run directly ` +
      `(max |diff| ${r.maxAbsDiff.toExponential(1)}, tolerance ${r.tolerance}, same boxes` +
      `${r.resized ? ', resize = CPU reference' : ''})` +
      (r.verified ? '' : '  <-- MISMATCH'),
    `  findings          ${r.findings}`,
  ].join('\n');
}

export function statsText(s: DetailedStats): string {
  if (s.backend === 'native') {
    const labels = Object.entries(s.byLabel)
      .filter(([, u]) => u.allocations > 0)
      .map(([l, u]) => `${l === '' ? '(no label)' : l} ${u.allocations} (${formatBytes(u.bytes)})`)
      .join(', ');
    return [
      `backend             native (${s.libraryPath}); what hbsys handed out in this process`,
      `bytes in use        ${formatBytes(s.bytesInUse)} (${s.bytesInUse} bytes asked for), peak ${formatBytes(s.peakBytesInUse)}`,
      `allocations         ${s.allocationCount} live, ${s.allocs} allocs, ${s.frees} frees` +
        (labels === '' ? '' : `; live by label: ${labels}`),
      `registrations       ${s.registrationCount} live (${formatBytes(s.bytesRegistered)}), ${s.registrations} made, ${s.unregistrations} ended`,
      `flushes             ${s.cleans} CLEAN (${formatBytes(s.bytesCleaned)}), ${s.invalidates} INVALIDATE ` +
        `(${formatBytes(s.bytesInvalidated)})`,
      `findings            ${s.findings}`,
    ].join('\n');
  }
  const kinds = Object.entries(s.findingsByKind)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `heap size           ${formatBytes(s.heapSize)} (${s.heapSize} bytes, pages of ${s.pageSize})`,
    `bytes in use        ${formatBytes(s.bytesInUse)} (${s.bytesRequested} asked for), peak ${formatBytes(s.peakBytesInUse)}`,
    `bytes free          ${formatBytes(s.bytesFree)} in ${s.freeBlockCount} blocks, largest ${formatBytes(s.largestFreeBlock)}`,
    `fragmentation       ${(s.fragmentation * 100).toFixed(1)}%`,
    `allocations         ${s.allocationCount} live (of ${s.maxAllocations}), ${s.allocs} allocs, ${s.frees} frees`,
    `registrations       ${s.registrationCount} live, ${s.registrations} made, ${s.unregistrations} ended`,
    `VIO buffers         ${s.vioBufferCount} live, ${formatBytes(s.vioBytesInUse)} of ${formatBytes(s.vioSize)}`,
    `flushes             ${s.cleans} CLEAN (${formatBytes(s.bytesCleaned)}), ${s.invalidates} INVALIDATE ` +
      `(${formatBytes(s.bytesInvalidated)}), ${formatBytes(s.bytesWrittenBack)} written back`,
    `BPU                 ${s.bpuJobs} jobs, ${formatBytes(s.bpuBytes)} moved`,
    `findings            ${s.findings}${kinds === '' ? '' : ` (${kinds})`}`,
  ].join('\n');
}

/** Makes the --out directory before a long run, so that a bad path fails at once. */
function prepareOut(dir: string): void {
  try {
    makeDirectories(dir);
  } catch (error) {
    throw new Error(`cannot write --out ${dir}: ${(error as Error).message}`);
  }
}

/**
 * `mkdir -p` that fails instead of looping: Node's recursive mkdirSync retries for ever
 * where a directory can never be made (under /proc, say) and spins the CPU.
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const d of missing) mkdirSync(d);
}

function writeOut(dir: string, files: Record<string, string>): void {
  try {
    makeDirectories(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  } catch (error) {
    throw new Error(`cannot write --out ${dir}: ${(error as Error).message}`);
  }
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** What a script run says about itself, with the exit code it earns. */
function scriptOutcome(run: ScriptRun, script: string): { code: number; line?: string } {
  if (run.signal !== null)
    return { code: EXIT.scriptFailed, line: `${script} was ended by ${run.signal}` };
  if (run.code !== 0)
    return { code: EXIT.scriptFailed, line: `${script} exited with code ${run.code}` };
  return { code: EXIT.ok };
}

/** Runs a script for its snapshot; fails when there is none. */
async function scriptSnapshot(
  script: string,
  args: string[],
  lifetime: Lifetime | undefined,
  options: { traceFile?: string; stdoutToStderr?: boolean },
): Promise<{ dump: HeapDump; run: ScriptRun }> {
  const run = await runScript({ script, args, sanitize: true, lifetime, ...options });
  if (run.ended !== undefined) throw endedError(run.ended, script);
  traceWritten(run);
  if (run.snapshot === undefined) {
    throw new ScriptFailure(scriptOutcome(run, script).line ?? `${script} left no snapshot`);
  }
  return { dump: run.snapshot, run };
}

/** A --trace that could not be written fails the command (exit 4), after the run. */
function traceWritten(run: ScriptRun): void {
  if (run.traceProblem !== undefined) throw new Error(run.traceProblem);
}

/** `--trace FILE`: every command that runs a program records what it did with hbsys. */
function traceOption(): Option {
  return new Option(
    '--trace <file>',
    'write a trace of the run (Chrome trace-event JSON: open it in ui.perfetto.dev)',
  ).argParser(pathName);
}

/** Writes an in-process trace to `--trace FILE`. */
function writeTrace(file: string, recorder: TraceRecorder): void {
  recorder.stop();
  try {
    writeFileSync(file, json(recorder.toTrace()));
  } catch (error) {
    throw new Error(`cannot write --trace ${file}: ${(error as Error).message}`);
  }
}

/** The script failed: exit code 3. */
class ScriptFailure extends Error {}

/** hbsys was stopped by a signal (and ended the script): exit 128 + the signal's number. */
class Interrupted extends Error {
  readonly signal: 'SIGINT' | 'SIGTERM';
  constructor(signal: 'SIGINT' | 'SIGTERM', what: string) {
    super(`interrupted by ${signal}; ${what}`);
    this.signal = signal;
  }
}

/** The error for a script that hbsys ended: interrupted, or past its --timeout. */
function endedError(reason: EndReason, script: string): Error {
  return reason.kind === 'signal'
    ? new Interrupted(reason.signal, `${script} was ended`)
    : new ScriptFailure(`${script} ${describeEnd(reason)}; it was ended`);
}

/**
 * Runs `body` with a lifetime (signals and `--timeout`) for the script it runs; without a
 * script, signals keep their default behaviour.
 */
async function withLifetime<T>(
  script: string | undefined,
  timeout: number | undefined,
  body: (lifetime: Lifetime | undefined) => Promise<T>,
): Promise<T> {
  const lifetime = script === undefined ? undefined : new Lifetime(timeout);
  try {
    return await body(lifetime);
  } finally {
    lifetime?.dispose();
  }
}

function requireScript(script: string): void {
  try {
    checkScript(script);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The version in hbsys's package.json (dist/cli/ in the package, build/src/cli/ in tests). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (pkg.name === 'hbsys' && typeof pkg.version === 'string') return pkg.version;
    } catch {}
  }
  return 'unknown';
}

export function makeProgram(): Command {
  const program = new Command('hbsys')
    .description(
      'BPU memory for Node.js: the hbSys API on a strict emulator, its sanitizer, and views of the memory',
    )
    .version(packageVersion(), '-v, --version', 'print the version of hbsys')
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
    });

  addDemoOptions(
    program
      .command('demo')
      .description(
        'run the camera -> BPU model -> CPU pipeline on the emulator (NV12 frames with text in VIO ' +
          'memory, registered, hbDNNResize, the PP-OCRv4 text detector by hbDNNInfer, INVALIDATE, text ' +
          'boxes on the CPU, checked against onnxruntime-web run directly)',
      ),
    4,
  )
    .option(
      '--out <dir>',
      "write stats.json, dump.json, trace.json, map.svg and the model's config (ppocr_det.yaml) there",
      pathName,
    )
    .option('--json', 'print the result as JSON on stdout')
    .addOption(traceOption())
    .action(async (flags: DemoFlags & { out?: string; json?: boolean; trace?: string }) => {
      if (flags.out) prepareOut(flags.out);
      await demoMachine();
      const trace = flags.out || flags.trace ? new TraceRecorder() : undefined;
      const result = await demoWithProgress(flags);
      trace?.stop();
      if (flags.trace && trace) writeTrace(flags.trace, trace);
      if (flags.out && trace) {
        writeOut(flags.out, {
          'stats.json': json(result.stats),
          'dump.json': json(result.dumpAtEnd),
          'trace.json': json(trace.toTrace()),
          'ppocr_det.yaml': result.model.config,
          'map.svg': renderMapSvg(result.dumpAtEnd.regions, {
            subtitle: 'after the last frame, before the buffers were freed',
          }),
        });
      }
      const { dumpAtEnd: _dump, ...rest } = result;
      process.stdout.write(flags.json ? json(rest) : `${demoSummary(result)}\n`);
      if (flags.out && !flags.json)
        process.stdout.write(
          `  wrote             ${['stats.json', 'dump.json', 'trace.json', 'map.svg', 'ppocr_det.yaml'].map((f) => join(flags.out!, f)).join(', ')}\n`,
        );
      if (!result.verified || result.findings > 0) process.exitCode = EXIT.problems;
    });

  program
    .command('check')
    .description(
      'run a Node program under the sanitizer (report mode, stacks on) with hbsys preloaded, print the ' +
        'findings, exit 1 when one fails the check (an error; a warning too with --fail-on warning)',
    )
    .argument('<script>', 'the program to run (.js or .mjs); its import of "hbsys" gets this hbsys')
    .argument('[args...]', 'arguments for the program')
    .passThroughOptions()
    .option(
      '--json',
      "print the findings as JSON on stdout (the program's own stdout goes to stderr)",
    )
    .addOption(
      new Option(
        '--fail-on <severity>',
        'the least severity that fails the check: error (corruption), or warning (waste too, such as redundant flushes)',
      )
        .choices(['error', 'warning'])
        .default('error'),
    )
    .addOption(traceOption())
    .addOption(timeoutOption())
    .action(
      async (
        script: string,
        args: string[],
        flags: { json?: boolean; failOn: Severity; trace?: string; timeout?: number },
      ) => {
        requireScript(script);
        const run = await withLifetime(script, flags.timeout, (lifetime) =>
          runScript({
            script,
            args,
            sanitize: true,
            lifetime,
            traceFile: flags.trace,
            stdoutToStderr: flags.json === true,
          }),
        );
        if (run.ended !== undefined) throw endedError(run.ended, script);
        traceWritten(run);
        const findings = run.report?.findings ?? run.snapshot?.findings;
        const outcome = scriptOutcome(run, script);
        if (findings === undefined) {
          throw new ScriptFailure(outcome.line ?? `${script} exited without a sanitizer report`);
        }
        const failing = failingFindings(findings, flags.failOn);
        process.stdout.write(
          flags.json
            ? json({ findings, failOn: flags.failOn, failing: failing.length })
            : `${findingsText(findings, flags.failOn)}\n`,
        );
        if (failing.length > 0) process.exitCode = EXIT.problems;
        else {
          if (outcome.line) process.stderr.write(`hbsys check: ${outcome.line}\n`);
          process.exitCode = outcome.code;
        }
      },
    );

  const snapshotCommand = (name: string, description: string) =>
    addDemoOptions(program.command(name).description(description), 4)
      .argument('[script]', 'a program to run instead of the demo')
      .argument('[args...]', 'arguments for the program')
      .passThroughOptions();

  snapshotCommand(
    'stats',
    'print the statistics of the demo (after it freed everything) or of a script (at its exit)',
  )
    .option('--json', "print JSON (a script's own stdout goes to stderr)")
    .addOption(traceOption())
    .addOption(timeoutOption())
    .action(
      async (
        script: string | undefined,
        args: string[],
        flags: DemoFlags & { json?: boolean; trace?: string; timeout?: number },
      ) => {
        let stats: DetailedStats;
        let outcome: { code: number; line?: string } = { code: EXIT.ok };
        if (script !== undefined) {
          requireScript(script);
          const { dump, run } = await withLifetime(script, flags.timeout, (lifetime) =>
            scriptSnapshot(script, args, lifetime, {
              traceFile: flags.trace,
              stdoutToStderr: flags.json === true,
            }),
          );
          stats = dump.stats;
          outcome = scriptOutcome(run, script);
        } else {
          await demoMachine();
          const trace = flags.trace ? new TraceRecorder() : undefined;
          stats = (await demoWithProgress(flags)).stats;
          if (flags.trace && trace) writeTrace(flags.trace, trace);
        }
        process.stdout.write(flags.json ? json(stats) : `${statsText(stats)}\n`);
        if (outcome.line) process.stderr.write(`hbsys stats: ${outcome.line}\n`);
        process.exitCode = outcome.code;
      },
    );

  snapshotCommand(
    'dump',
    'print the JSON heap dump (docs/dump-schema.md) of the demo (after its last frame, before it ' +
      'frees) or of a script (at its exit: what it leaked)',
  )
    .option('--out <file>', 'write the dump there instead of stdout', pathName)
    .option('--svg <file>', 'also write the memory map as SVG', pathName)
    .addOption(traceOption())
    .addOption(timeoutOption())
    .action(
      async (
        script: string | undefined,
        args: string[],
        flags: DemoFlags & { out?: string; svg?: string; trace?: string; timeout?: number },
      ) => {
        let dump: HeapDump;
        let outcome: { code: number; line?: string } = { code: EXIT.ok };
        if (script !== undefined) {
          requireScript(script);
          const r = await withLifetime(script, flags.timeout, (lifetime) =>
            scriptSnapshot(script, args, lifetime, {
              traceFile: flags.trace,
              // The dump on stdout must parse: the script's own output goes to stderr.
              stdoutToStderr: flags.out === undefined,
            }),
          );
          dump = r.dump;
          outcome = scriptOutcome(r.run, script);
        } else {
          await demoMachine();
          const trace = flags.trace ? new TraceRecorder() : undefined;
          dump = (await demoWithProgress(flags)).dumpAtEnd;
          if (flags.trace && trace) writeTrace(flags.trace, trace);
        }
        const text = json(dump);
        try {
          if (flags.out !== undefined) writeFileSync(flags.out, text);
          else process.stdout.write(text);
          if (flags.svg !== undefined) writeFileSync(flags.svg, renderMapSvg(mapRegions(dump)));
        } catch (error) {
          throw new Error(`cannot write the dump: ${(error as Error).message}`);
        }
        if (outcome.line) process.stderr.write(`hbsys dump: ${outcome.line}\n`);
        process.exitCode = outcome.code;
      },
    );

  addDemoOptions(
    program
      .command('serve')
      .description(
        'serve the live memory-map page while the demo (or a script) runs; Ctrl-C stops, and ' +
          'ends the script',
      )
      .argument('[script]', 'a program to run instead of the demo')
      .argument('[args...]', 'arguments for the program')
      .passThroughOptions(),
    1000,
  )
    .option('--port <port>', 'port to listen on (0: any free port)', port, 7070)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--delay <ms>',
      'pause between demo frames, so that people can watch',
      (v) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 60_000)
          throw new InvalidArgumentError(`expected milliseconds in 0 … 60000, got '${v}'`);
        return n;
      },
      50,
    )
    .addOption(
      timeoutOption(
        'end the demo or script if it runs longer than this (exit 3), and stop serving then',
      ),
    )
    .addOption(traceOption())
    .action(
      async (
        script: string | undefined,
        args: string[],
        flags: DemoFlags & {
          port: number;
          host: string;
          delay: number;
          timeout?: number;
          trace?: string;
        },
      ) => {
        if (script !== undefined) requireScript(script);
        const what = script ?? 'the demo';
        let status = script === undefined ? 'demo starting' : `running ${script}`;
        let scriptDump: HeapDump | undefined;
        if (script === undefined) await demoMachine();
        // The demo's trace is recorded here; a script's by its preload.
        const recorder = script === undefined && flags.trace ? new TraceRecorder() : undefined;
        const state = (): MapState => ({ dump: scriptDump ?? dumpHeap(), status });
        // Serving always has a lifetime: the server, and the script with it, end together.
        const lifetime = new Lifetime(flags.timeout);
        let server: Awaited<ReturnType<typeof startMapServer>> | undefined;
        try {
          try {
            server = await startMapServer({ port: flags.port, host: flags.host, state });
          } catch (error) {
            throw new Error(
              `cannot listen on ${flags.host}:${flags.port}: ${(error as Error).message} (try --port 0)`,
            );
          }
          const live = server;
          process.stderr.write(`hbsys serve: memory map at ${live.url} (Ctrl-C stops)\n`);
          let outcome: { code: number; line?: string } = { code: EXIT.ok };
          if (script === undefined) {
            const stop = watchMachine(() => live.notify());
            try {
              const result = await runDemo({
                ...demoOptions(flags),
                onFrame: async (i, n) => {
                  if (lifetime.reason !== undefined) throw endedError(lifetime.reason, what);
                  status = `demo: frame ${i} of ${n}`;
                  live.notify();
                  if (flags.delay > 0) await new Promise((r) => setTimeout(r, flags.delay));
                },
              });
              status =
                `demo finished: ${result.frames} frames, ${result.framesVerified} verified, ` +
                `${result.textLines.found}/${result.textLines.drawn} text lines found, ` +
                `${result.findings} findings`;
            } finally {
              stop();
              if (recorder !== undefined) writeTrace(flags.trace!, recorder);
            }
          } else {
            const run = await runScript({
              script,
              args,
              sanitize: true,
              lifetime,
              onState: (dump) => {
                scriptDump = dump;
                live.notify();
              },
              traceFile: flags.trace,
            });
            if (run.ended !== undefined) throw endedError(run.ended, script);
            traceWritten(run);
            scriptDump = run.snapshot ?? scriptDump;
            status = `${script} ${run.signal ? `was ended by ${run.signal}` : `exited with code ${run.code}`}`;
            outcome = scriptOutcome(run, script);
          }
          live.notify();
          process.stderr.write(`hbsys serve: ${status}; still serving ${live.url}\n`);
          const reason = await lifetime.ended;
          // A signal stops serving as it always did; the deadline ends a run that went well.
          if (reason.kind === 'signal') throw new Interrupted(reason.signal, 'stopped serving');
          process.exitCode = outcome.code;
        } finally {
          lifetime.dispose();
          await server?.close();
        }
      },
    );

  program
    .command('map')
    .description(
      'draw a saved heap dump (hbsys dump --out, hbsys demo --out, dumpHeap()) as the SVG memory map',
    )
    .argument('<dump>', 'the dump.json to draw')
    .option('--out <file>', 'write the SVG there instead of stdout', pathName)
    .action((file: string, flags: { out?: string }) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new UsageError(
          code === 'ENOENT'
            ? `dump not found: ${file} (give a dump.json written by hbsys dump --out, hbsys demo --out or dumpHeap())`
            : `cannot read ${file}: ${(error as Error).message}`,
        );
      }
      const dump = readDump(text);
      if (typeof dump === 'string') {
        throw new UsageError(
          `${file} cannot be drawn: ${dump}. Give a dump.json written by hbsys dump --out, ` +
            'hbsys demo --out or dumpHeap() (docs/dump-schema.md)',
        );
      }
      const svg = renderMapSvg(mapRegions(dump), {
        title: `hbsys memory map: ${file}`,
        subtitle: dump.subtitle,
      });
      if (flags.out === undefined) {
        process.stdout.write(svg);
        return;
      }
      try {
        writeFileSync(flags.out, svg);
      } catch (error) {
        throw new Error(`cannot write --out ${flags.out}: ${(error as Error).message}`);
      }
    });

  if (existsSync(fileURLToPath(BENCH_SUITE))) {
    program
      .command('bench')
      .description(
        'the benchmark suite (bench/suite.ts), quick: each figure beside its baseline and aim',
      )
      .option('--full', 'the full suite (minutes) instead of the quick run (seconds)')
      .option('--json', 'print the report as JSON')
      .action(async (flags: { full?: boolean; json?: boolean }) => {
        const suite = await loadBenchSuite();
        const bar = progressBar();
        const report = await suite.runBenchSuite({
          quick: !flags.full,
          onProgress: (fraction, step) => bar.update(Math.round(fraction * 100), 100, `% ${step}`),
        });
        bar.end();
        process.stdout.write(flags.json ? json(report) : `${suite.formatReport(report)}\n`);
      });
  } else {
    // An installed package has no benchmark suite: not listed, but asked for, it says where.
    program
      .command('bench', { hidden: true })
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new UsageError(
          'the benchmark suite ships with the repository, not the npm package: run hbsys bench ' +
            'in a clone, after npm ci && npm run build (see bench/README.md there)',
        );
      });
  }

  return program;
}

/** The compiled benchmark suite: in a clone after `npm run build`; not in the npm package. */
const BENCH_SUITE = new URL('../../build/bench/suite.js', import.meta.url);

/** What the CLI uses of the benchmark suite (bench/suite.ts, outside the package's sources). */
interface BenchSuite {
  runBenchSuite(options: {
    quick?: boolean;
    onProgress?: (fraction: number, step: string) => void;
  }): Promise<unknown>;
  formatReport(report: unknown): string;
}

/** `--timeout SECONDS`, for CI: the script is ended past it and hbsys exits with 3. */
function timeoutOption(
  description = 'end the script if it runs longer than this (exit 3)',
): Option {
  return new Option('--timeout <seconds>', description).argParser(seconds);
}

async function loadBenchSuite(): Promise<BenchSuite> {
  try {
    return (await import(BENCH_SUITE.href)) as BenchSuite;
  } catch (error) {
    throw new Error(
      `the benchmark suite cannot be loaded (${(error as Error).message}): run npm run build`,
    );
  }
}

/** Runs the CLI; sets process.exitCode (see the table at the top). */
export async function main(argv: string[]): Promise<void> {
  // `hbsys dump | head`: a reader that leaves early is no error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw error;
  });
  try {
    await makeProgram().parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message (and the help) already.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`hbsys: ${message}\n`);
    process.exitCode =
      error instanceof UsageError
        ? EXIT.usage
        : error instanceof ScriptFailure
          ? EXIT.scriptFailed
          : error instanceof Interrupted
            ? SIGNAL_EXIT[error.signal]
            : EXIT.failed;
  }
}
