/**
 * On-demand live resources end to end, for integration tests: a local
 * upstream that serves the JSON documents a test sets and counts every
 * request per `path|x-api-key`, a bridge process publishing through an
 * ingest on the test broker, and an edge process with resources on that
 * leases them at the bridge (forwarding `x-api-key`). Stops all of it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JsonValue } from '@fanout/shared';
import { startBridgeProcess, type BridgeProcess } from './bridge-process.js';
import { startEdgeProcess, type EdgeProcess } from './edge-process.js';
import { startIngestStack, type IngestStack } from './edge-stack.js';

export interface ResourceStackOptions {
  /** Names the topic. */
  readonly name: string;
  /** The bridge's poll interval. */
  readonly pollMs: number;
  /** How long the bridge polls a resource after its last lease ended. */
  readonly idleMs: number;
  /** The edge's lease length and renewal period. */
  readonly leaseMs: number;
  readonly renewEveryMs: number;
}

export interface ResourceStack {
  readonly stack: IngestStack;
  readonly bridge: BridgeProcess;
  readonly edge: EdgeProcess;
  /** `http://127.0.0.1:<port>` of the upstream. */
  readonly origin: string;
  /** What the upstream answers per path (404 when absent). */
  readonly documents: Map<string, JsonValue>;
  /** Requests the upstream answered per `path|x-api-key`. */
  readonly polls: Map<string, number>;
  /** The poll count of `key` once it stopped moving for a second (bounded). */
  settledPolls(key: string): Promise<number>;
  /** The first sample of an edge metric, 0 when absent. */
  edgeMetric(name: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startResourceStack(options: ResourceStackOptions): Promise<ResourceStack> {
  const documents = new Map<string, JsonValue>();
  const polls = new Map<string, number>();
  const upstream = createServer((request, response) => {
    const path = request.url ?? '/';
    const key = `${path}|${String(request.headers['x-api-key'] ?? '')}`;
    polls.set(key, (polls.get(key) ?? 0) + 1);
    const document = documents.get(path);
    response.writeHead(document === undefined ? 404 : 200, {
      'content-type': 'application/json',
    });
    response.end(JSON.stringify(document ?? {}));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const stack = await startIngestStack({ name: options.name, partitions: 2 });
  const bridge = await startBridgeProcess({
    config: {
      bridge: {
        origins: [{ origin, allowPrivate: true, forwardHeaders: ['x-api-key'] }],
        pollIntervalMs: options.pollMs,
        minPollIntervalMs: 100,
        host: '127.0.0.1',
        port: 0,
        ingestAddress: `127.0.0.1:${stack.ingest.app.grpcPort}`,
        onDemand: { idleMs: options.idleMs },
      },
    },
  });
  const edge = await startEdgeProcess({
    brokers: stack.kafka.brokers,
    topic: stack.topic,
    env: {
      FANOUT_EDGE_RESOURCES_ENABLED: 'true',
      FANOUT_EDGE_RESOURCES_BRIDGES: bridge.httpBase,
      FANOUT_EDGE_RESOURCES_LEASE_MS: String(options.leaseMs),
      FANOUT_EDGE_RESOURCES_RENEW_EVERY_MS: String(options.renewEveryMs),
      FANOUT_EDGE_RESOURCES_FORWARD_HEADERS: 'x-api-key',
    },
  });
  return {
    stack,
    bridge,
    edge,
    origin,
    documents,
    polls,
    async settledPolls(key) {
      for (let i = 0; i < 20; i++) {
        const before = polls.get(key) ?? 0;
        await sleep(1000);
        if ((polls.get(key) ?? 0) === before) return before;
      }
      assert.fail(`${key} is still polled`);
    },
    async edgeMetric(name) {
      const text = await (await fetch(`${edge.metricsBase}/metrics`)).text();
      const line = text
        .split('\n')
        .find((row) => row.startsWith(`${name}{`) || row.startsWith(`${name} `));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    },
    async stop() {
      await edge.kill('SIGTERM');
      await bridge.kill('SIGKILL');
      await new Promise<void>((resolve) => {
        upstream.close(() => {
          resolve();
        });
        upstream.closeAllConnections();
      });
      await stack.stop();
    },
  };
}
