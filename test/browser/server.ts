/**
 * A tiny static HTTP server for the headless-Chromium tests: URL prefixes mapped to folders, served on
 * 127.0.0.1 at a random port (http://127.0.0.1 is a secure context, so `navigator.gpu` is exposed).
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, normalize, resolve, sep } from 'node:path';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  /** Origin without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** URL paths served with status 200 so far, in order. */
  readonly served: string[];
  close(): Promise<void>;
}

/** Resolves `urlPath` under one of the mounts (longest prefix first); null if outside every folder. */
function locate(mounts: [string, string][], urlPath: string): string | null {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = resolve(dir, normalize(urlPath.slice(prefix.length)).replace(/^([/\\])+/, ''));
    return file === dir || file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

/**
 * Serves `mounts` (URL prefix ending in `/` → folder). `GET /` serves `index.html` of the `/` mount.
 * @example
 * ```ts
 * const server = await startStaticServer({ '/core/': 'packages/core/dist', '/': 'test/browser' });
 * await page.goto(`${server.url}/index.html`);
 * ```
 */
export async function startStaticServer(mounts: Record<string, string>): Promise<StaticServer> {
  const table = Object.entries(mounts)
    .map(([prefix, dir]): [string, string] => [prefix, resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const served: string[] = [];
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string | Buffer, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    const file = locate(table, path === '/' ? '/index.html' : path);
    if (!file) return send(404, `not found: ${path}`);
    stat(file)
      .then((info) => (info.isFile() ? readFile(file) : null))
      .then(
        (body) => {
          if (!body) return send(404, `not found: ${path}`);
          served.push(path);
          send(200, body, MIME[extname(file)] ?? 'application/octet-stream');
        },
        () => send(404, `not found: ${path}`),
      );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
