// @ts-check
/**
 * Serves the browser demo on 127.0.0.1: the page, its script, the client
 * bundled for browsers (esbuild, built at start from the compiled package)
 * and `config.json` naming the edge and ingest to use, and the live resource
 * its "Live resource" panel follows (`resource`: a state channel a bridge
 * publishes, its status channel and the upstream URL; none by default).
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowserBundle } from '../scripts/browser-bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * @typedef {{ channel: string, statusChannel?: string, url?: string }} DemoResource
 * @param {{ host?: string, port?: number, edge: string, ingest: string, resource?: DemoResource }} options
 * @returns {Promise<{ url: string, port: number, close(): Promise<void> }>}
 */
export async function startDemoServer(options) {
  const bundle = await buildBrowserBundle({ minify: true });
  /** @type {Record<string, { type: string, body: string | Uint8Array }>} */
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: await readFile(join(here, 'index.html')) },
    '/demo.js': { type: 'text/javascript', body: await readFile(join(here, 'demo.js')) },
    '/live-resource.js': {
      type: 'text/javascript',
      body: await readFile(join(here, 'live-resource.js')),
    },
    '/fanout-client.js': { type: 'text/javascript', body: bundle.code },
    '/config.json': {
      type: 'application/json',
      body: JSON.stringify({
        edge: options.edge,
        ingest: options.ingest,
        ...(options.resource === undefined ? {} : { resource: options.resource }),
      }),
    },
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://demo').pathname;
    const file = files[path === '/index.html' ? '/' : path];
    if (file === undefined || request.method !== 'GET') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    response.end(file.body);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
