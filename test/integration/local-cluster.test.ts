/**
 * The chart on a real single-node Kubernetes cluster (deploy/tools/local-cluster.mjs,
 * docs/guides/local-cluster.md): the cluster is brought up (or reused),
 * `helm install` runs with the locally built images and the cluster's Kafka
 * (`kafka.external`), every pod of the release becomes Ready, the two edges
 * find each other through the headless Service's EndpointSlices (the
 * `kubernetes` membership source, from inside the pods, with the chart's
 * RBAC), and a client outside the cluster publishes through the ingest
 * Service and receives the event over WebSocket and SSE through the edge
 * Service (NodePorts on the node's address). Then the release is uninstalled
 * and the cluster brought down.
 *
 * Opt-in: it needs root, Go and the Debian packages the cluster script names,
 * and builds the Kubernetes components (tens of minutes the first time) and
 * the service images unless cached:
 *   FANOUT_TEST_CLUSTER=1 FANOUT_TEST_STATIC=0 npm test -- local-cluster
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { repoRoot } from '../support/repo-paths.js';
import { runToEnd } from '../support/run-to-end.js';

const script = join(repoRoot, 'deploy', 'tools', 'local-cluster.mjs');

interface ClusterStatus {
  readonly root: boolean;
  readonly missingPackages: readonly string[];
  readonly stateDir: string;
  readonly network: { readonly nodeAddress: string; readonly podCidr: string };
}

interface ReleaseServices {
  readonly nodeAddress: string;
  readonly services: Readonly<
    Record<
      string,
      { clusterIP: string; ports: Record<string, { port: number; nodePort?: number }> }
    >
  >;
}

function clusterStatus(): ClusterStatus {
  const result = spawnSync(process.execPath, [script, 'status'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${script} status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ClusterStatus;
}

function skipReason(): string | undefined {
  if (process.env['FANOUT_TEST_CLUSTER'] !== '1') {
    return 'opt-in: FANOUT_TEST_CLUSTER=1 (builds Kubernetes unless cached; see the head of this file)';
  }
  if (process.getuid?.() !== 0) return 'the cluster needs root';
  const status = clusterStatus();
  if (status.missingPackages.length > 0) {
    return `Debian packages missing: ${status.missingPackages.join(' ')}`;
  }
  if (spawnSync(process.env['GO'] ?? 'go', ['version']).status !== 0) {
    return 'go not found (the Kubernetes components are built with it)';
  }
  return undefined;
}
const skip = skipReason();

/** Runs the cluster script to its end; its standard output. */
function cluster(...args: string[]): Promise<string> {
  return runToEnd(process.execPath, [script, ...args], {
    cwd: repoRoot,
    name: 'local-cluster',
    tailChars: 6000,
  });
}

/** A GET to the API server as the cluster's admin. */
function apiGet(stateDir: string, nodeAddress: string, path: string): Promise<unknown> {
  const pki = (name: string) => readFileSync(join(stateDir, 'pki', name));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: nodeAddress,
        port: 6443,
        path,
        ca: pki('ca.crt'),
        cert: pki('admin.crt'),
        key: pki('admin.key'),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(body));
          else reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 300)}`));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A plain HTTP request; status and body. */
function http(
  url: string,
  method = 'GET',
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until check answers true; fails with the last reason after the deadline. */
async function eventually(what: string, check: () => Promise<string | true>, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    let last: string;
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) assert.fail(`${what}: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

interface PodList {
  items: {
    metadata: { name: string };
    status: { podIP?: string; conditions?: { type: string; status: string }[] };
  }[];
}

interface RouteAnswer {
  members: { id: string; url: string }[];
  self: { id: string; url: string };
}

describe('the chart on a local single-node cluster', { skip }, () => {
  let status: ClusterStatus;
  let services: ReleaseServices;

  before(
    async () => {
      await cluster('up');
      status = clusterStatus();
      services = JSON.parse(await cluster('install')) as ReleaseServices;
    },
    { timeout: 90 * 60_000 },
  );

  after(
    async () => {
      if (skip !== undefined) return;
      await cluster('uninstall').catch((error: unknown) => {
        console.error(error);
      });
      await cluster('down');
    },
    { timeout: 10 * 60_000 },
  );

  const nodePort = (service: string, port: string): string => {
    const found = Object.entries(services.services).find(([name]) => name.endsWith(service));
    const nodePortNumber = found?.[1].ports[port]?.nodePort;
    assert.ok(nodePortNumber !== undefined, `${service} has a NodePort for ${port}`);
    return `${services.nodeAddress}:${nodePortNumber}`;
  };

  it('every pod of the release is Ready, on the pod network', { timeout: 5 * 60_000 }, async () => {
    const pods = (await apiGet(
      status.stateDir,
      status.network.nodeAddress,
      '/api/v1/namespaces/fanout/pods',
    )) as PodList;
    assert.equal(pods.items.length, 3, 'one ingest and two edges');
    for (const pod of pods.items) {
      const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
      assert.equal(ready?.status, 'True', `${pod.metadata.name} is Ready`);
      assert.match(pod.status.podIP ?? '', /^198\.18\.0\./, `${pod.metadata.name} has a pod IP`);
    }
  });

  it(
    'the edges find each other through EndpointSlices (kubernetes membership)',
    { timeout: 5 * 60_000 },
    async () => {
      const edge = nodePort('-edge', 'http');
      await eventually(
        'both edges in /v1/route',
        async () => {
          const res = await http(`http://${edge}/v1/route?channels=cluster.route`);
          if (res.status !== 200) return `status ${res.status}: ${res.body}`;
          const route = JSON.parse(res.body) as RouteAnswer;
          return route.members.length === 2 || `members ${JSON.stringify(route.members)}`;
        },
        120_000,
      );
      const route = JSON.parse(
        (await http(`http://${edge}/v1/route?channels=cluster.route`)).body,
      ) as RouteAnswer;
      for (const member of route.members) {
        assert.match(member.url, /^http:\/\/198\.18\.0\.\d+:8081$/, 'members are pod addresses');
      }
      // The same answer through the edge Service's ClusterIP, which the host routes to the node.
      const clusterIp = Object.entries(services.services).find(([name]) =>
        name.endsWith('-edge'),
      )?.[1].clusterIP;
      const viaClusterIp = await http(
        `http://${clusterIp ?? ''}:8081/v1/route?channels=cluster.route`,
      );
      assert.equal(viaClusterIp.status, 200, viaClusterIp.body);
      assert.equal((JSON.parse(viaClusterIp.body) as RouteAnswer).members.length, 2);
    },
  );

  it(
    'a client outside the cluster publishes through the ingest Service and receives over WebSocket and SSE',
    { timeout: 5 * 60_000 },
    async () => {
      const edge = nodePort('-edge', 'http');
      const ingest = nodePort('-ingest', 'http');
      const channel = `cluster.t${randomBytes(3).toString('hex')}`;

      // WebSocket: subscribe, wait for `subscribed`.
      const socket = new WebSocket(`ws://${edge}/v1/ws`, 'fanout.json.v1');
      const wsFrames: Record<string, unknown>[] = [];
      const wsEvent = new Promise<Record<string, unknown>>((resolve, reject) => {
        socket.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
          wsFrames.push(frame);
          if ('event' in frame) resolve(frame['event'] as Record<string, unknown>);
        });
        socket.once('error', reject);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => {
          resolve();
        });
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel }] } }));
      await eventually(
        'WebSocket subscribed',
        async () =>
          Promise.resolve(wsFrames.some((f) => 'subscribed' in f) || JSON.stringify(wsFrames)),
        60_000,
      );

      // SSE: open the stream, wait for `event: subscribed`.
      let sseText = '';
      const sse = httpRequest(`http://${edge}/v1/channels/${channel}?watch=true`);
      sse.on('response', (res) => {
        res.setEncoding('utf8').on('data', (chunk: string) => (sseText += chunk));
      });
      sse.end();
      await eventually(
        'SSE subscribed',
        async () => Promise.resolve(sseText.includes('event: subscribed') || sseText),
        60_000,
      );

      const published = await http(
        `http://${ingest}/v1/channels/${channel}/events`,
        'POST',
        JSON.stringify({ type: 'cluster.check', data: { hello: 'cluster' } }),
      );
      assert.equal(published.status, 200, published.body);
      const result = (JSON.parse(published.body) as { results: { position: string }[] }).results[0];
      assert.ok(result !== undefined);

      try {
        const event = await wsEvent;
        assert.equal(event['channel'], channel);
        assert.equal(event['position'], result.position);
        assert.deepEqual(event['data'], { hello: 'cluster' });
        await eventually(
          'the event over SSE',
          async () => Promise.resolve(sseText.includes(`id: ${result.position}`) || sseText),
          60_000,
        );
        const line = sseText
          .split('\n')
          .find((l) => l.startsWith('data: ') && l.includes(result.position));
        assert.ok(line !== undefined);
        const sseEvent = JSON.parse(line.slice('data: '.length)) as Record<string, unknown>;
        assert.equal(sseEvent['channel'], channel);
        assert.deepEqual(sseEvent['data'], { hello: 'cluster' });
      } finally {
        socket.close();
        sse.destroy();
      }
    },
  );
});
