/** The `hbsys` command, run as a user runs it: every command, its help, its errors, its exit codes. */

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hbsys, script, serve, stop, tempDir } from '../cli-helpers.js';

const LEAKY = `
import { allocate, emulator } from 'hbsys';
const kept = allocate(10000, { cached: true, label: 'leaked tensor' });
allocate(5000, { label: 'freed' }).free();
emulator.vio.alloc(8192);
console.log('args:' + process.argv.slice(2).join(','));
`;

describe('help and usage errors', () => {
  for (const [command, mentions] of [
    ['demo', ['--frames', '--width', '--height', '--tensor', '--out', '--json', 'ppocr_det.yaml']],
    ['check', ['<script>', '[args...]', '--json']],
    ['stats', ['[script]', '--json', '--frames']],
    ['dump', ['[script]', '--out', '--svg']],
    ['serve', ['[script]', '--port', '--host', '--delay']],
    ['bench', ['--json', '--full']],
  ] as const) {
    test(`hbsys ${command} --help`, async () => {
      const r = await hbsys([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage: hbsys ${command}`));
      for (const m of mentions) assert.ok(r.stdout.includes(m), `${command} --help mentions ${m}`);
      assert.doesNotMatch(r.stdout, /\{"/, 'defaults are shown as people type them');
    });
  }

  test('hbsys --help lists every command', async () => {
    const r = await hbsys(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['demo', 'check', 'stats', 'dump', 'serve', 'bench'])
      assert.match(r.stdout, new RegExp(`\\n  ${c} `));
  });

  for (const [args, message] of [
    [['demo', '--frames', 'many'], /--frames.*expected a positive integer, got 'many'/],
    [['demo', '--frames', '0'], /expected a positive integer/],
    [['demo', '--width', '641'], /expected an even number of pixels/],
    [['demo', '--tensor', '224'], /expected WIDTHxHEIGHT/],
    [['demo', '--tensor', '224x200'], /each side a multiple of 32/],
    [['serve', '--port', '70000'], /expected a port number/],
    [['serve', '--delay', '-1'], /expected milliseconds/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['demo', '--colour'], /unknown option '--colour'/],
    [['check'], /missing required argument 'script'/],
    [['check', 'no-such-script.mjs'], /script not found: no-such-script\.mjs/],
    [['stats', 'no-such-script.mjs'], /script not found/],
  ] as const) {
    test(`hbsys ${args.join(' ')} exits 2 with a message`, async () => {
      const r = await hbsys([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }
});

describe('scripts run with hbsys preloaded', () => {
  const dir = tempDir('cli');
  const leaky = script(dir, 'leaky.mjs', LEAKY);

  test('stats <script>: the statistics at its exit, with its arguments passed on', async () => {
    const r = await hbsys(['stats', '--json', leaky, '--flag', 'x']);
    assert.equal(r.code, 0, r.stderr);
    // --json: stdout is the JSON alone; the script's own output goes to stderr.
    assert.match(r.stderr, /^args:--flag,x$/m);
    const stats = JSON.parse(r.stdout);
    // The script's 'hbsys' is the CLI's: its allocations are in the CLI's snapshot.
    assert.equal(stats.allocationCount, 1);
    assert.equal(stats.bytesRequested, 10000);
    assert.equal(stats.allocs, 2);
    assert.equal(stats.frees, 1);
    assert.equal(stats.vioBufferCount, 1);
    // Scripts run under the sanitizer: the leak found at exit is counted.
    assert.equal(stats.findingsByKind.leak, 1);
    assert.equal(stats.findings, 1);
  });

  test("the script's 'hbsys' is the CLI's, even beside another installed hbsys", async () => {
    const project = tempDir('project');
    mkdirSync(join(project, 'node_modules', 'hbsys'), { recursive: true });
    writeFileSync(
      join(project, 'node_modules', 'hbsys', 'package.json'),
      JSON.stringify({ name: 'hbsys', type: 'module', exports: './index.js' }),
    );
    writeFileSync(
      join(project, 'node_modules', 'hbsys', 'index.js'),
      "throw new Error('the other hbsys');\n",
    );
    const app = script(
      project,
      'app.mjs',
      "import { allocate } from 'hbsys';\nallocate(64, { label: 'mine' });\n",
    );
    const r = await hbsys(['stats', '--json', app]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).allocationCount, 1);
  });

  test('stats <script> as text', async () => {
    const r = await hbsys(['stats', leaky]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /allocations\s+1 live \(of 1024\), 2 allocs, 1 frees/);
  });

  test('dump <script>: what it left, as JSON and SVG', async () => {
    const out = join(dir, 'leaky-dump.json');
    const svg = join(dir, 'leaky-map.svg');
    const r = await hbsys(['dump', '--out', out, '--svg', svg, leaky]);
    assert.equal(r.code, 0, r.stderr);
    const dump = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(dump.format, 'hbsys-heap-dump');
    const owned = dump.regions.flatMap((x: { blocks: { kind: string }[] }) =>
      x.blocks.filter((b) => b.kind !== 'free'),
    );
    assert.deepEqual(
      owned.map((b: { kind: string; label: string | null; size: number }) => [
        b.kind,
        b.label,
        b.size,
      ]),
      [
        ['allocation', 'leaked tensor', 10000],
        ['vio', null, 8192],
      ],
    );
    assert.match(readFileSync(svg, 'utf8'), /data-label="leaked tensor"/);
    assert.deepEqual(
      dump.findings.map((f: { kind: string; label?: string }) => [f.kind, f.label]),
      [['leak', 'leaked tensor']],
    );
    assert.match(
      owned[0].allocStack,
      /leaky\.mjs/,
      'stacks are on: the leak says where it was allocated',
    );
  });

  test('a script that fails: exit code 3 and the reason', async () => {
    const failing = script(dir, 'fails.mjs', "import 'hbsys';\nprocess.exit(5);\n");
    const r = await hbsys(['stats', failing]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /fails\.mjs exited with code 5/);
    const c = await hbsys(['check', failing]);
    assert.equal(c.code, 3);
    assert.match(c.stderr, /exited with code 5/);
  });
});

describe('check', () => {
  const dir = tempDir('check');

  test('a correct program: no findings, exit 0', async () => {
    const clean = script(
      dir,
      'clean.mjs',
      `import { allocate, emulator } from 'hbsys';
       const a = allocate(4096, { cached: true, label: 'in' });
       const b = allocate(4096, { cached: true, label: 'out' });
       a.write(new Uint8Array(4096).fill(3)).clean();
       await emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096);
       if (b.invalidate().read()[9] !== 3) process.exit(9);
       a.free();
       b.free();`,
    );
    const r = await hbsys(['check', clean]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hbsys check: no findings/);
  });

  test('a program with a missing CLEAN and a leak: findings, exit 1', async () => {
    const buggy = script(
      dir,
      'buggy.mjs',
      `import { allocate, emulator } from 'hbsys';
       const a = allocate(4096, { cached: true, label: 'never cleaned' });
       const b = allocate(4096, { label: 'leaked output' });
       a.write(new Uint8Array(4096).fill(3));            // no clean(): the BPU reads stale memory
       await emulator.bpu.copy(b.phyAddr, a.phyAddr, 4096);
       a.free();`,
    );
    const r = await hbsys(['check', '--json', buggy]);
    assert.equal(r.code, 1, r.stderr);
    const { findings } = JSON.parse(r.stdout);
    assert.ok(findings.length >= 2, r.stdout);
    const text = JSON.stringify(findings);
    assert.match(text, /leaked output/, 'the leak names its label');
    assert.ok(findings.some((f: { phyAddr: string }) => /^0x[0-9a-f]+$/.test(f.phyAddr)));
    const human = await hbsys(['check', buggy]);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /hbsys check: \d+ finding\(s\)\n {2}1\. /);
  });
});

describe('serve', () => {
  test('serve <script>: the page, the renderer and the state over HTTP', async () => {
    const dir = tempDir('serve');
    const s = script(
      dir,
      'hold.mjs',
      `import { allocate } from 'hbsys';\nallocate(4096, { label: 'held' });\n`,
    );
    const { url, child } = await serve([s]);
    try {
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(
        await page.text(),
        /import \{ formatBytes, mapRegions, renderMapSvg \} from '\/map-svg\.js'/,
      );
      const js = await fetch(new URL('map-svg.js', url));
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      assert.match(await js.text(), /export function renderMapSvg/);
      assert.equal((await fetch(new URL('nope', url))).status, 404);
      // The script's final state arrives once it has exited.
      let state: { dump: { regions: { blocks: { label: string | null }[] }[] }; status: string };
      do {
        state = (await (await fetch(new URL('state', url))).json()) as typeof state;
      } while (!/exited with code 0/.test(state.status));
      assert.ok(state.dump.regions[0]!.blocks.some((b) => b.label === 'held'));
    } finally {
      await stop(child);
    }
  });

  test('serve: a port in use is an error that says what to do', async () => {
    const { url, child } = await serve([]);
    try {
      const port = new URL(url).port;
      const r = await hbsys(['serve', '--port', port]);
      assert.equal(r.code, 4);
      assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*\(try --port 0\)/);
    } finally {
      await stop(child);
    }
  });
});
