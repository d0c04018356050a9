/**
 * A loopback stand-in for the part of kube-apiserver that EndpointSlice
 * membership reads: list and watch of the slices of one Service, replaying
 * the responses in `test/fixtures/kubernetes/` with the endpoints a test
 * sets. It checks the bearer token and the label selector, keeps
 * resourceVersions, sends watch events as newline-delimited JSON, answers an
 * expired resourceVersion with the `410 Expired` ERROR event, and can fail
 * (HTTP 500) on demand.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './repo-paths.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'kubernetes');

interface Slice {
  metadata: { name: string; resourceVersion: string; [key: string]: unknown };
  endpoints: unknown[];
  [key: string]: unknown;
}

export interface KubernetesApiReplayOptions {
  readonly namespace: string;
  readonly service: string;
  readonly token?: string;
}

export class KubernetesApiReplay {
  readonly url: string;
  /** Answer every request with 500 while set. */
  failing = false;
  /** Requests seen, `list` or `watch`, for assertions. */
  readonly requests: string[] = [];
  readonly #server: Server;
  readonly #options: KubernetesApiReplayOptions;
  readonly #template: Slice;
  readonly #listTemplate: Record<string, unknown>;
  readonly #expired: unknown;
  #version = 50000;
  /** Watches resuming from before this version get 410. */
  #compactedBefore = 0;
  #slice: Slice;
  readonly #watches = new Set<ServerResponse>();

  private constructor(server: Server, url: string, options: KubernetesApiReplayOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.#listTemplate = JSON.parse(
      readFileSync(join(fixtures, 'endpointslice-list.json'), 'utf8'),
    ) as Record<string, unknown>;
    const items = this.#listTemplate['items'] as Slice[];
    const first = items[0];
    if (!first) throw new Error('the recorded list has no slice');
    this.#template = first;
    this.#slice = structuredClone(first);
    this.#expired = JSON.parse(readFileSync(join(fixtures, 'watch-expired.json'), 'utf8'));
  }

  static async start(options: KubernetesApiReplayOptions): Promise<KubernetesApiReplay> {
    const handler: { replay?: KubernetesApiReplay } = {};
    const server = createServer((request, response) => {
      handler.replay?.handle(request.url ?? '', request.headers.authorization, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const replay = new KubernetesApiReplay(server, `http://127.0.0.1:${port}`, options);
    handler.replay = replay;
    return replay;
  }

  /**
   * The slice lists ready endpoints for these edges (pod `<service>-<i>`,
   * address 10.1.0.<i+1>) plus the recorded terminating, not-ready one.
   */
  setReady(indexes: readonly number[]): void {
    const [readyTemplate, notReady] = this.#template.endpoints as Record<string, unknown>[];
    const endpoints = indexes.map((index) => ({
      ...structuredClone(readyTemplate),
      addresses: [`10.1.0.${index + 1}`],
      targetRef: {
        ...(readyTemplate?.['targetRef'] as Record<string, unknown>),
        name: `${this.#options.service}-${index}`,
      },
    }));
    this.#slice = {
      ...structuredClone(this.#template),
      metadata: {
        ...structuredClone(this.#template.metadata),
        resourceVersion: String(++this.#version),
      },
      endpoints: [...endpoints, structuredClone(notReady)],
    };
    this.#send({ type: 'MODIFIED', object: this.#slice });
  }

  /** Sends a bookmark to every watch (advances their resourceVersion). */
  bookmark(): void {
    this.#send({
      type: 'BOOKMARK',
      object: {
        kind: 'EndpointSlice',
        apiVersion: 'discovery.k8s.io/v1',
        metadata: {
          resourceVersion: String(++this.#version),
          annotations: { 'k8s.io/initial-events-end': 'true' },
        },
      },
    });
  }

  /** Compacts history: every watch resuming from an older version gets 410. */
  compact(): void {
    this.#compactedBefore = ++this.#version;
  }

  /** Ends every open watch (as an API server restart does). */
  dropWatches(): void {
    for (const response of this.#watches) response.destroy();
    this.#watches.clear();
  }

  #send(event: unknown): void {
    const line = `${JSON.stringify(event)}\n`;
    for (const response of this.#watches) response.write(line);
  }

  handle(rawUrl: string, authorization: string | undefined, response: ServerResponse): void {
    const url = new URL(rawUrl, this.url);
    const expectedPath = `/apis/discovery.k8s.io/v1/namespaces/${this.#options.namespace}/endpointslices`;
    if (authorization !== `Bearer ${this.#options.token ?? 'test-token'}`) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401,
        }),
      );
      return;
    }
    if (this.failing) {
      response.writeHead(500, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'etcdserver: request timed out',
          reason: 'InternalError',
          code: 500,
        }),
      );
      return;
    }
    if (
      url.pathname !== expectedPath ||
      url.searchParams.get('labelSelector') !==
        `kubernetes.io/service-name=${this.#options.service}`
    ) {
      response.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      this.requests.push('list');
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          ...this.#listTemplate,
          metadata: { resourceVersion: String(this.#version) },
          items: [this.#slice],
        }),
      );
      return;
    }
    this.requests.push('watch');
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < this.#compactedBefore) {
      response.end(`${JSON.stringify(this.#expired)}\n`);
      return;
    }
    this.#watches.add(response);
    response.on('close', () => this.#watches.delete(response));
    // Changes after `from` that the watcher has not seen.
    if (Number(this.#slice.metadata.resourceVersion) > from) {
      response.write(`${JSON.stringify({ type: 'MODIFIED', object: this.#slice })}\n`);
    }
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }
}
