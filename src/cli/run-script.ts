/**
 * Runs a user's Node program with hbsys preloaded (see preload.ts) and collects what it
 * left: the sanitizer's report and the final heap snapshot.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HeapDump } from '../observe/dump.js';
import type { FindingJson } from '../observe/findings.js';

export interface ScriptRunOptions {
  script: string;
  args: readonly string[];
  /** Sanitizer on (report mode, stacks on) and its report collected. */
  sanitize?: boolean;
  /** Receives the state while the script runs. */
  onState?: (dump: HeapDump) => void;
}

export interface ScriptRun {
  /** The script's exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The sanitizer report, when one was written. */
  report: { findings: FindingJson[]; stats?: Record<string, unknown> } | undefined;
  /** The heap at exit, when the script exited normally. */
  snapshot: HeapDump | undefined;
}

const PRELOAD = new URL('./preload.js', import.meta.url).href;

/** Throws (with what to do) when the script is not a readable file. */
export function checkScript(script: string): string {
  const path = resolve(script);
  if (!existsSync(path)) {
    throw new Error(`script not found: ${script} (give the path of a .js or .mjs file to run)`);
  }
  return path;
}

export async function runScript(options: ScriptRunOptions): Promise<ScriptRun> {
  const script = checkScript(options.script);
  const dir = mkdtempSync(join(tmpdir(), 'hbsys-run-'));
  const reportFile = join(dir, 'report.json');
  const snapshotFile = join(dir, 'snapshot.json');
  const env: NodeJS.ProcessEnv = { ...process.env, HBSYS_SNAPSHOT_FILE: snapshotFile };
  if (options.sanitize) {
    env.HBSYS_SANITIZE = 'report';
    env.HBSYS_STACKS = '1';
    env.HBSYS_REPORT_FILE = reportFile;
  }
  if (options.onState) env.HBSYS_LIVE = '1';
  try {
    const child = spawn(process.execPath, ['--import', PRELOAD, script, ...options.args], {
      stdio: ['inherit', 'inherit', 'inherit', ...(options.onState ? (['ipc'] as const) : [])],
      env,
    });
    if (options.onState) {
      const onState = options.onState;
      child.on('message', (msg: { type?: string; dump?: HeapDump }) => {
        if (msg?.type === 'state' && msg.dump) onState(msg.dump);
      });
    }
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (done, fail) => {
        child.once('error', fail);
        child.once('exit', (c, s) => done([c, s]));
      },
    );
    return {
      code,
      signal,
      report: readJson(reportFile),
      snapshot: (readJson(snapshotFile) as { dump?: HeapDump } | undefined)?.dump,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
