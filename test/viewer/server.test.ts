/**
 * The memory-map server against hostile requests: malformed targets get 400
 * and the server goes on serving; a Host that is not the server's own gets 421 (DNS
 * rebinding); every response carries `X-Content-Type-Options: nosniff`.
 */

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { emulator } from '../../src/index.js';
import { dumpHeap } from '../../src/observe/dump.js';
import { type MapServer, startMapServer } from '../../src/viewer/server.js';

let server: MapServer;

before(async () => {
  await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
  server = await startMapServer({ port: 0, state: () => ({ dump: dumpHeap(), status: 'test' }) });
});

after(() => server.close());

/** Sends `request` as it is, byte for byte, and returns the whole response. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let response = '';
    socket.on('data', (d) => (response += d));
    socket.once('error', reject);
    socket.once('close', () => resolve(response));
    socket.end(request);
  });
}

const host = () => `127.0.0.1:${server.port}`;
const get = (target: string, hostHeader = host()) =>
  raw(`GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);

describe('malformed request targets', () => {
  const malformed = [
    '//[',
    '//',
    '///etc/passwd',
    '//[::1]:80/state',
    '*',
    'http://[',
    'https://example.com/state',
    '?state',
    'state',
  ];
  for (const target of malformed) {
    test(`GET ${target}: 400, and the server goes on serving`, async () => {
      const r = await get(target);
      assert.equal(status(r), 400, r);
      assert.match(r, /x-content-type-options: nosniff/i);
      assert.equal(status(await get('/state')), 200);
    });
  }

  test('a request line the parser refuses: 400, and the server goes on', async () => {
    const r = await raw(`GET /\x00 HTTP/1.1\r\nHost: ${host()}\r\n\r\n`);
    assert.equal(status(r), 400, r);
    assert.equal(status(await get('/')), 200);
  });
});

describe('the Host header', () => {
  for (const name of ['127.0.0.1', 'localhost', 'LOCALHOST.', '[::1]']) {
    test(`${name}: served`, async () => {
      assert.equal(status(await get('/state', `${name}:${server.port}`)), 200);
    });
  }
  for (const [what, value] of [
    ['another name (DNS rebinding)', () => `attacker.example:${server.port}`],
    ['a name that ends like localhost', () => `evil-localhost:${server.port}`],
    ['another port', () => '127.0.0.1:1'],
    ['no port (80)', () => '127.0.0.1'],
    ['garbage', () => '[::1'],
  ] as const) {
    test(`${what}: 421, nothing of the state`, async () => {
      const r = await get('/state', value());
      assert.equal(status(r), 421, r);
      assert.doesNotMatch(r, /"dump"/);
      assert.match(r, /x-content-type-options: nosniff/i);
    });
  }

  test('no Host at all (HTTP/1.0): refused', async () => {
    const r = await raw('GET /state HTTP/1.0\r\n\r\n');
    assert.ok([400, 421].includes(status(r)), r);
    assert.doesNotMatch(r, /"dump"/);
  });
});

describe('nosniff', () => {
  for (const path of ['/', '/map-svg.js', '/state', '/favicon.ico', '/no/such/page<script>']) {
    test(`${path}: X-Content-Type-Options: nosniff`, async () => {
      const r = await fetch(new URL(path, server.url));
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      await r.arrayBuffer();
    });
  }

  test('the 404 page is plain text', async () => {
    const r = await fetch(new URL('/<b>x</b>', server.url));
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    await r.text();
  });
});
