/**
 * The live memory-map server: node:http, one page, the map renderer as a module, the
 * state as JSON, and Server-Sent Events that push the state whenever it changes (at most
 * every `intervalMs`).
 *
 * What it shows (addresses, labels, allocation stacks with file paths) is for the person
 * at this machine, so:
 * - a request whose `Host` is not this server's own address (an IP address, `localhost`, or
 *   the name it listens on) gets 421: a web page that rebinds its own domain name to
 *   127.0.0.1 (DNS rebinding) cannot read the state;
 * - a malformed request target gets 400, and nothing a request carries can stop the server;
 * - every response says `X-Content-Type-Options: nosniff`, so that no browser takes the
 *   plain-text 404 (which echoes the path) for a page.
 */

import { readFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { hostname } from 'node:os';
import type { HeapDump } from '../observe/dump.js';
import { PAGE_HTML } from './page.js';

/** What the page shows: a dump (with stats and findings) and a line of status. */
export interface MapState {
  dump: HeapDump;
  status: string;
}

export interface MapServerOptions {
  /** Port; 0 picks a free one. Default 0. */
  port?: number;
  /**
   * Default 127.0.0.1: the page shows memory contents' layout, keep it local. Requests must
   * name this host (or an IP address, or localhost) in their `Host` header.
   */
  host?: string;
  /** The state now. Called for every push and every /state request. */
  state: () => MapState;
  /** Least time between two pushes. Default 100 ms. */
  intervalMs?: number;
}

export interface MapServer {
  readonly url: string;
  readonly port: number;
  /** Says the state changed: clients get it within `intervalMs`. */
  notify(): void;
  close(): Promise<void>;
}

const RENDERER = new URL('../observe/map-svg.js', import.meta.url);

/** Starts the server; resolves once it listens. */
export async function startMapServer(options: MapServerOptions): Promise<MapServer> {
  const intervalMs = options.intervalMs ?? 100;
  const clients = new Set<ServerResponse>();
  const renderer = await readFile(RENDERER, 'utf8');
  let timer: NodeJS.Timeout | undefined;

  const stateJson = () => JSON.stringify(options.state());
  const push = () => {
    timer = undefined;
    if (clients.size === 0) return;
    const data = `event: state\ndata: ${stateJson()}\n\n`;
    for (const c of clients) c.write(data);
  };

  let port = 0;
  const names = new Set(['localhost', (options.host ?? '127.0.0.1').toLowerCase()]);

  const route = (req: IncomingMessage, res: ServerResponse): void => {
    if (!hostAllowed(req.headers.host, port, names)) {
      send(res, 421, TEXT, 'misdirected request: use the address hbsys serve printed\n');
      return;
    }
    const path = pathOf(req.url);
    if (path === undefined) {
      send(res, 400, TEXT, 'bad request: the target must be a path such as /state\n');
    } else if (req.method !== 'GET') {
      send(res, 405, { allow: 'GET' });
    } else if (path === '/') {
      send(res, 200, { 'content-type': 'text/html; charset=utf-8' }, PAGE_HTML);
    } else if (path === '/favicon.ico') {
      send(res, 204, {});
    } else if (path === '/map-svg.js') {
      send(res, 200, { 'content-type': 'text/javascript; charset=utf-8' }, renderer);
    } else if (path === '/state') {
      send(
        res,
        200,
        { 'content-type': 'application/json', 'cache-control': 'no-store' },
        stateJson(),
      );
    } else if (path === '/events') {
      res.writeHead(200, {
        ...COMMON,
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`retry: 500\nevent: state\ndata: ${stateJson()}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else {
      send(res, 404, TEXT, `not found: ${path}\n`);
    }
  };

  const server: Server = createServer((req, res) => {
    try {
      route(req, res);
    } catch {
      // Whatever went wrong with this request, the server goes on serving the others.
      if (!res.headersSent) send(res, 500, TEXT, 'internal error\n');
      else res.destroy();
    }
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nx-content-type-options: nosniff\r\n' +
          'content-length: 0\r\nconnection: close\r\n\r\n',
      );
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  port = address.port;
  // Listening beyond this machine, it is reached by the machine's name too.
  if (!isLoopback(address.address)) names.add(hostname().toLowerCase());
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    port: address.port,
    notify() {
      timer ??= setTimeout(push, intervalMs);
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      for (const c of clients) c.end();
      clients.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Headers of every response. */
const COMMON: OutgoingHttpHeaders = { 'x-content-type-options': 'nosniff' };
const TEXT: OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };

function send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body?: string) {
  res.writeHead(status, { ...COMMON, ...headers }).end(body);
}

/** The path of an origin-form request target (`/state?x`), or undefined when it is none. */
function pathOf(target: string | undefined): string | undefined {
  // `//host/…` would be read as a URL with a host; `*` and absolute forms are not served.
  if (target === undefined || !target.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

/**
 * Whether `header` names this server: the port it listens on, and an IP address (which no
 * page can rebind), `localhost`, or a name in `names`.
 */
function hostAllowed(header: string | undefined, port: number, names: ReadonlySet<string>) {
  const m =
    header === undefined ? null : /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header);
  if (m === null) return false;
  if (Number(m[2] ?? 80) !== port) return false;
  const name = m[1]!.toLowerCase().replace(/\.$/, '');
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  return isIP(bare) !== 0 || names.has(bare);
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1';
}
