/**
 * The live memory-map server: node:http, one page, the map renderer as a module, the
 * state as JSON, and Server-Sent Events that push the state whenever it changes (at most
 * every `intervalMs`).
 */

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  /** Default 127.0.0.1: the page shows memory contents' layout, keep it local. */
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

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
    } else if (path === '/favicon.ico') {
      res.writeHead(204).end();
    } else if (path === '/map-svg.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(renderer);
    } else if (path === '/state') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(stateJson());
    } else if (path === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`retry: 500\nevent: state\ndata: ${stateJson()}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
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
