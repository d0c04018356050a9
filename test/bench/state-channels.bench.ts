/**
 * State channels, measured (`npm run bench:state`): one ingest and one edge
 * process (`fanout-stack.ts`) on a topic of their own in the local broker,
 * all traffic on 127.0.0.1. Sections, in order (`--sections`):
 *
 *   waterfall  a page that needs 20 channels' state and their changes, behind
 *              a proxy adding 50 ms per round trip (`delay-proxy.ts`): the
 *              request waterfall (list, 20 sequential GETs, 20 subscribes on the
 *              page's WebSocket) against one request (SSE `/v1/stream?channels=
 *              …&snapshot=true`; one WebSocket subscribe with 20 snapshot
 *              subscriptions; the same through `client.states`) and the
 *              list-first variant; time to live, median and p95 of BENCH_RUNS runs
 *   bytes      a ~20 KB document (the orders of `json-patch-workload.ts`, keyed by
 *              id), BENCH_CHANGES seeded merge patches of a few fields: bytes each
 *              subscriber received (SSE patches, WebSocket json-patch / merge-patch
 *              / full) and the bytes the producer sent
 *   latency    BENCH_SUBSCRIBERS WebSocket subscribers over 100 state channels,
 *              BENCH_RATE changes/s through the ingest (BENCH_PRODUCER=http: HTTP
 *              PATCH over BENCH_PRODUCER_CONNECTIONS keep-alive connections;
 *              BENCH_PRODUCER=grpc: unary ChangeState calls on one HTTP/2
 *              connection; a token bucket) for BENCH_SECONDS after a warm-up;
 *              every subscriber applies every patch (`state-subscribers.ts`):
 *              latency from the send time carried in the document and from the
 *              broker's append time of the change's record (the topic stores
 *              LogAppendTime; read back after the run), gaps, CPU of each
 *              process and per accepted change
 *
 * Defaults: BENCH_RUNS=30, BENCH_CHANGES=1000, BENCH_SUBSCRIBERS=1000,
 * BENCH_RATE=1000, BENCH_SECONDS=30, BENCH_PRODUCER_CONNECTIONS=32 (HTTP/1.1
 * has one request in flight per connection: at ~15–30 ms per accepted
 * change, 1,000 changes/s need that many), BENCH_PRODUCER=http;
 * BENCH_INGEST_ENV="NAME=value …" passes settings to the ingest process.
 *
 *   npm run bench:state
 *   npm run bench:state -- --sections latency
 *   FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:state -- --sections latency
 *   (FANOUT_BENCH_INGEST_NODE_ARGS the same for the ingest), then
 *   node test/dist/bench/cpu-profile-summary.js /tmp/prof/CPU.*.cpuprofile
 *
 * Prints Markdown tables and writes the figures as JSON (`--out`, default
 * docs/benchmarks/state-channels.json). Bounded in time and count; stops
 * everything it started.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { createClient, type WebSocketConstructor } from '@fanout/client';
import { applyJsonPatch, jsonEqual, type JsonValue } from '@fanout/shared';
import WebSocket from 'ws';
import { fanout, parsePosition } from '@fanout/shared';
import {
  ingestClient,
  readTopic,
  repoRoot,
  stopOwnKafka,
  testKafka,
  writeState,
} from '../support/index.js';
import { RawWsClient } from '../support/raw-ws-client.js';
import { startDelayProxy } from './delay-proxy.js';
import { startFanoutStack } from './fanout-stack.js';
import { seededRandom, workloadSteps } from './json-patch-workload.js';
import { percentile } from './latency-sampling.js';
import { loadAverage, writeSectionResults } from './section-results.js';
import { pidListeningOn } from './listening-process.js';
import { cpuVerdict } from './cpu-verdict.js';
import { cpuSeconds, machineBusyShare, machineTicks } from './process-stats.js';
import type { SubscriberTally } from './state-subscribers.js';

const { values: args } = parseArgs({
  options: {
    sections: { type: 'string', default: 'waterfall,bytes,latency' },
    out: { type: 'string', default: join(repoRoot, 'docs', 'benchmarks', 'state-channels.json') },
  },
});
const sections = new Set(args.sections.split(','));
const runs = Number(process.env['BENCH_RUNS'] ?? 30);
const changes = Number(process.env['BENCH_CHANGES'] ?? 1000);
const subscriberCount = Number(process.env['BENCH_SUBSCRIBERS'] ?? 1000);
const rate = Number(process.env['BENCH_RATE'] ?? 1000);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 30);
const warmupSeconds = 5;
const pageChannels = 20;
const liveChannels = 100;
const producerConnections = Number(process.env['BENCH_PRODUCER_CONNECTIONS'] ?? 32);
/** How the latency section's producer sends its changes: `http` (PATCH) or `grpc` (ChangeState). */
const producerKind = process.env['BENCH_PRODUCER'] ?? 'http';
if (producerKind !== 'http' && producerKind !== 'grpc') {
  throw new Error(`BENCH_PRODUCER is http or grpc, not ${producerKind}`);
}
const oneWayMs = 25;
const partitions = 8;
const subprotocol = 'fanout.json.v1';
const startedAt = new Date();
const command = `npm run bench:state${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const say = (line: string): void => {
  console.log(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
};

const kafka = await testKafka();
// The broker stamps each record with its append time: the moment a change
// was accepted (written), which the latency section measures from.
const topic = await kafka.createTopic({
  name: 'bench-state-channels',
  partitions,
  config: { 'message.timestamp.type': 'LogAppendTime' },
});
const edgeNodeArgs = (process.env['FANOUT_BENCH_EDGE_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
/** FANOUT_BENCH_INGEST_NODE_ARGS: the same for the ingest process. */
const ingestNodeArgs = (process.env['FANOUT_BENCH_INGEST_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
/** BENCH_INGEST_ENV: more settings of the ingest process, `NAME=value` separated by spaces. */
const ingestEnv = Object.fromEntries(
  (process.env['BENCH_INGEST_ENV'] ?? '')
    .split(/\s+/)
    .filter((entry) => entry.includes('='))
    .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
);
const stack = await startFanoutStack({
  brokers: kafka.brokers,
  topic,
  partitions,
  edgeNodeArgs,
  ingestNodeArgs,
  ingestEnv,
  edgeEnv: {
    FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(4 * 1024 * 1024),
    FANOUT_EDGE_IDLE_TIMEOUT_SECONDS: '960',
    FANOUT_EDGE_MAX_CONNECTIONS: '100000',
    FANOUT_EDGE_SUBSCRIBE_RATE_PER_SECOND: '0',
  },
});
const edge = stack.edge;
const ingest = stack.ingest;
say(`edge on ${edge.port}, ingest on ${ingest.httpBase}, topic ${topic}`);

// ---- HTTP helpers ----------------------------------------------------------------------

interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly etag: string | undefined;
}

/** One request over `agent` (keep-alive) to 127.0.0.1:port; the whole answer. */
function httpCall(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  body?: string,
  headers: Readonly<Record<string, string>> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: { ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const etag = res.headers.etag;
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            etag: typeof etag === 'string' ? etag.replace(/"/g, '') : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens an SSE stream; `onData` sees each chunk of its body. Resolves with the response. */
function openStream(
  agent: Agent | undefined,
  port: number,
  path: string,
  onData: (chunk: string) => void,
): Promise<{ response: IncomingMessage; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ...(agent === undefined ? {} : { agent }),
        headers: { accept: 'text/event-stream' },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', onData);
        res.on('error', () => undefined);
        resolve({ response: res, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface Summary {
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

function summary(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    medianMs: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}

const results: Record<string, unknown> = {};
const tables: string[] = [];

// ---- waterfall -----------------------------------------------------------------------------

/** A page widget's document (~1.5 KB): a title, a status and 12 rows of figures. */
function widgetDocument(index: number): JsonValue {
  const random = seededRandom(1000 + index);
  return {
    title: `Widget ${index}`,
    status: random() < 0.8 ? 'ok' : 'degraded',
    updated: '2026-12-03T03:00:00Z',
    rows: Array.from({ length: 12 }, (_, row) => ({
      label: `series-${index}-${row}`,
      value: Math.round(random() * 100_000) / 100,
      delta: Math.round((random() - 0.5) * 1000) / 100,
      unit: random() < 0.5 ? 'req/s' : 'ms',
    })),
  };
}

interface WaterfallRow {
  readonly variant: string;
  readonly requests: string;
  readonly roundTrips: number;
  readonly summary: Summary;
  readonly target: boolean;
}

/** Waits until `check` holds, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
    await sleep(1);
  }
}

/** A WebSocket through the proxy, open and handshaken; `frames` collects its text frames. */
async function openPageSocket(port: number): Promise<{ socket: RawWsClient; frames: string[] }> {
  const socket = new RawWsClient(port, '/v1/ws', subprotocol);
  const frames: string[] = [];
  socket.sample((payload) => {
    frames.push(payload.toString('utf8'));
  });
  await socket.ready;
  // The edge's `connected` frame comes first.
  await until(() => frames.length > 0, 'the connected frame');
  frames.length = 0;
  return { socket, frames };
}

async function waterfall(): Promise<void> {
  const channels = Array.from({ length: pageChannels }, (_, i) => `bench.page.widget-${i}`);
  const listChannel = 'bench.page.list';
  for (const [index, channel] of channels.entries()) {
    await writeState(ingest.httpBase, 'PUT', channel, widgetDocument(index));
  }
  await writeState(ingest.httpBase, 'PUT', listChannel, { title: 'Dashboard', channels });
  // The edge folds them once; every page below reads them from memory.
  for (const channel of [listChannel, ...channels]) {
    await fetch(`${edge.httpBase}/v1/state/${channel}`).then((response) => response.text());
  }
  const proxy = await startDelayProxy(edge.port, oneWayMs);
  const rtt = proxy.roundTripMs;
  /** The page's keep-alive HTTP connection (one: sequential requests). */
  const pageAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string): Promise<HttpAnswer> =>
    httpCall(pageAgent, proxy.port, 'GET', path, undefined);
  const readList = async (): Promise<string[]> => {
    const answer = await get(`/v1/state/${listChannel}`);
    if (answer.status !== 200) throw new Error(`list: ${answer.status} ${answer.body}`);
    return (JSON.parse(answer.body) as { state: { channels: string[] } }).state.channels;
  };

  const timings = new Map<string, number[]>();
  const time = (variant: string, ms: number): void => {
    timings.set(variant, [...(timings.get(variant) ?? []), ms]);
  };
  const waterfallName = 'A: waterfall (list, 20 GETs in turn, 20 WebSocket subscribes)';
  const sseName = 'B: one SSE request (/v1/stream?channels=…&snapshot=true)';
  const wsName = 'B: one WebSocket subscribe, 20 snapshot subscriptions';
  const libraryName = 'B: client.states(20) over an open WebSocket (@fanout/client)';
  const libraryColdName = 'B: client.states(20), new client (WebSocket upgrade + subscribe)';
  const listFirstName = 'list first: GET the list, then one WebSocket subscribe';

  for (let run = 0; run < runs; run++) {
    // Every connection is open and warm before the clock starts.
    await readList();

    // A: the waterfall.
    {
      const { socket, frames } = await openPageSocket(proxy.port);
      const began = performance.now();
      const names = await readList();
      const positions: string[] = [];
      for (const name of names) {
        const answer = await get(`/v1/state/${name}`);
        if (answer.status !== 200 || answer.etag === undefined) {
          throw new Error(`GET ${name}: ${answer.status}`);
        }
        positions.push(answer.etag);
      }
      names.forEach((name, index) => {
        socket.sendText(
          JSON.stringify({
            subscribe: {
              requestId: index + 1,
              subscriptions: [{ channel: name, snapshot: true, since: positions[index] }],
            },
          }),
        );
      });
      await until(
        () => frames.filter((frame) => frame.startsWith('{"subscribed"')).length === names.length,
        'the waterfall subscriptions',
      );
      time(waterfallName, performance.now() - began);
      if (frames.some((frame) => frame.includes('"snapshot":{'))) {
        throw new Error('a subscribe with since= the ETag got a snapshot: the position moved');
      }
      socket.close();
    }

    // B over SSE: one request on the page's warm connection.
    {
      await readList();
      let snapshots = 0;
      let text = '';
      const began = performance.now();
      const stream = await openStream(
        pageAgent,
        proxy.port,
        `/v1/stream?channels=${channels.join(',')}&snapshot=true`,
        (chunk) => {
          text += chunk;
          const events = text.split('\n\n');
          text = events.pop() ?? '';
          snapshots += events.filter((event) => event.startsWith('event: snapshot')).length;
        },
      );
      if (stream.response.statusCode !== 200) {
        throw new Error(`stream: ${stream.response.statusCode ?? 0}`);
      }
      await until(() => snapshots === channels.length, 'the SSE snapshots');
      time(sseName, performance.now() - began);
      stream.close();
    }

    // B over WebSocket: one subscribe of 20 snapshot subscriptions.
    {
      const { socket, frames } = await openPageSocket(proxy.port);
      const began = performance.now();
      socket.sendText(
        JSON.stringify({
          subscribe: {
            requestId: 1,
            subscriptions: channels.map((channel) => ({ channel, snapshot: true })),
          },
        }),
      );
      await until(() => frames.length > 0, 'the subscribed frame');
      time(wsName, performance.now() - began);
      const snapshots = (frames[0]?.match(/"snapshot":\{/g) ?? []).length;
      if (snapshots !== channels.length) throw new Error(`${snapshots} snapshots, not 20`);
      socket.close();
    }

    // List first: the names from the list channel, then one subscribe.
    {
      const { socket, frames } = await openPageSocket(proxy.port);
      const began = performance.now();
      const names = await readList();
      socket.sendText(
        JSON.stringify({
          subscribe: {
            requestId: 1,
            subscriptions: names.map((channel) => ({ channel, snapshot: true })),
          },
        }),
      );
      await until(() => frames.length > 0, 'the subscribed frame');
      time(listFirstName, performance.now() - began);
      socket.close();
    }

    // The client library, over its WebSocket: connected first, then new.
    for (const cold of [false, true]) {
      const client = createClient({
        url: `http://127.0.0.1:${proxy.port}`,
        transports: ['websocket'],
        WebSocket: WebSocket as unknown as WebSocketConstructor,
      });
      let began = performance.now();
      if (!cold) {
        client.connect();
        await until(() => client.status.state === 'connected', 'the client connection');
        began = performance.now();
      }
      const states = client.states(channels);
      await Promise.all(states.map((state) => state.ready()));
      time(cold ? libraryColdName : libraryName, performance.now() - began);
      if (states.some((state) => state.value === undefined)) throw new Error('a state is empty');
      client.close();
    }
  }
  pageAgent.destroy();
  await proxy.close();

  const rows: WaterfallRow[] = [
    { variant: waterfallName, requests: '22', roundTrips: 22, target: false },
    { variant: sseName, requests: '1', roundTrips: 1, target: true },
    { variant: wsName, requests: '1', roundTrips: 1, target: true },
    { variant: libraryName, requests: '1', roundTrips: 1, target: true },
    { variant: libraryColdName, requests: '1 + upgrade', roundTrips: 2, target: false },
    { variant: listFirstName, requests: '2', roundTrips: 2, target: false },
  ].map((row) => ({ ...row, summary: summary(timings.get(row.variant) ?? []) }));
  const limit = rtt + 30;
  results['waterfall'] = { rttMs: rtt, runs, targetMs: limit, rows };
  tables.push(
    `Waterfall: ${pageChannels} state channels (~1.5 KB each) behind a proxy adding ${rtt} ms per round trip; ${runs} runs; connections open and warm before the clock; target for one request: ≤ 1 RTT + 30 ms = ${limit} ms.`,
    '',
    '| page | requests | round trips | median | p95 | median in RTTs | target ≤ 80 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (row) =>
        `| ${row.variant} | ${row.requests} | ${row.roundTrips} | ${row.summary.medianMs.toFixed(1)} ms | ${row.summary.p95Ms.toFixed(1)} ms | ${(row.summary.medianMs / rtt).toFixed(2)} | ${row.target ? (row.summary.p95Ms <= limit ? 'met (p95)' : row.summary.medianMs <= limit ? 'met (median), not p95' : 'not met') : '–'} |`,
    ),
    '',
  );
  say(`waterfall: ${JSON.stringify(rows.map((row) => [row.variant, row.summary.medianMs]))}`);
}

// ---- bytes ---------------------------------------------------------------------------------

type Row = Record<string, JsonValue>;

async function bytes(): Promise<void> {
  const channel = 'bench.bytes.orders';
  const list = workloadSteps()[0]?.previous as Row[];
  const orders: Record<string, JsonValue> = {};
  for (const order of list) orders[order['id'] as string] = order;
  const document: JsonValue = { title: 'Orders', orders };
  const documentBytes = Buffer.byteLength(JSON.stringify(document));
  await writeState(ingest.httpBase, 'PUT', channel, document);
  await fetch(`${edge.httpBase}/v1/state/${channel}`).then((response) => response.text());

  // Subscribers, before the changes.
  const sse = { bytes: 0, patches: 0, opened: false, text: '' };
  const stream = await openStream(undefined, edge.port, `/v1/state/${channel}?watch=true`, (c) => {
    sse.text += c;
    const events = sse.text.split('\n\n');
    sse.text = events.pop() ?? '';
    for (const event of events) {
      if (event.startsWith('event: patch')) {
        sse.patches++;
        sse.bytes += Buffer.byteLength(event) + 2;
      } else if (event.startsWith('event: snapshot')) {
        sse.opened = true;
      }
    }
  });
  const deltas = ['json-patch', 'merge-patch', 'full'] as const;
  const ws = new Map<
    string,
    { socket: RawWsClient; bytes: number; patches: number; frames: string[] }
  >();
  for (const delta of deltas) {
    const socket = new RawWsClient(edge.port, '/v1/ws', subprotocol);
    await socket.ready;
    const entry = { socket, bytes: 0, patches: 0, frames: [] as string[] };
    socket.sample((payload) => {
      const text = payload.toString('utf8');
      if (text.startsWith('{"patch"')) {
        entry.patches++;
        entry.bytes += payload.length;
        if (delta === 'json-patch') entry.frames.push(text);
      } else {
        entry.frames.push(text);
      }
    });
    socket.sendText(
      JSON.stringify({
        subscribe: { requestId: 1, subscriptions: [{ channel, snapshot: true, delta }] },
      }),
    );
    ws.set(delta, entry);
  }
  await until(
    () =>
      sse.opened &&
      [...ws.values()].every((entry) =>
        entry.frames.some((frame) => frame.startsWith('{"subscribed"')),
      ),
    'the byte subscribers',
  );

  // Seeded changes: 1–3 orders, 1–2 fields each.
  const random = seededRandom(20261203);
  const ids = Object.keys(orders);
  const statuses = ['open', 'paid', 'packed', 'shipped', 'delivered', 'returned'];
  let producerBytes = 0;
  const producerAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let n = 0; n < changes; n++) {
    const touched: Record<string, JsonValue> = {};
    const rowsTouched = 1 + Math.floor(random() * 3);
    for (let r = 0; r < rowsTouched; r++) {
      const id = ids[Math.floor(random() * ids.length)] ?? '';
      const fields: Record<string, JsonValue> = {};
      fields['status'] = statuses[Math.floor(random() * statuses.length)] ?? 'open';
      if (random() < 0.5) fields['total'] = Math.round(random() * 100_000) / 100;
      touched[id] = fields;
    }
    const body = JSON.stringify({ orders: touched });
    producerBytes += Buffer.byteLength(body);
    const answer = await httpCall(
      producerAgent,
      Number(new URL(ingest.httpBase).port),
      'PATCH',
      `/v1/state/${channel}`,
      body,
      { 'content-type': 'application/merge-patch+json' },
    );
    if (answer.status !== 200) throw new Error(`PATCH: ${answer.status} ${answer.body}`);
  }
  producerAgent.destroy();
  await until(
    () => sse.patches >= changes && [...ws.values()].every((entry) => entry.patches >= changes),
    'every patch at every subscriber',
    60_000,
  );
  stream.close();

  // The JSON Patch subscriber's document, patch by patch, ends where the edge is.
  const jsonPatch = ws.get('json-patch');
  let held: JsonValue | undefined;
  let position: string | undefined;
  let gaps = 0;
  for (const text of jsonPatch?.frames ?? []) {
    const frame = JSON.parse(text) as {
      subscribed?: { subscriptions: { snapshot?: { state: JsonValue; position: string } }[] };
      patch?: { position: string; base: string; patch: unknown };
    };
    if (frame.subscribed !== undefined) {
      held = frame.subscribed.subscriptions[0]?.snapshot?.state;
      position = frame.subscribed.subscriptions[0]?.snapshot?.position;
    } else if (frame.patch !== undefined && held !== undefined) {
      if (frame.patch.base !== position) gaps++;
      const applied = applyJsonPatch(held, frame.patch.patch);
      if (!applied.ok) throw new Error(`a patch did not apply: ${applied.refusal.message}`);
      held = applied.document;
      position = frame.patch.position;
    }
  }
  const final = (await (await fetch(`${edge.httpBase}/v1/state/${channel}`)).json()) as {
    state: JsonValue;
  };
  const consistent = held !== undefined && jsonEqual(held, final.state) && gaps === 0;
  for (const entry of ws.values()) entry.socket.close();

  const full = ws.get('full')?.bytes ?? Number.NaN;
  const row = (name: string, received: number): string =>
    `| ${name} | ${received.toLocaleString('en')} | ${(received / changes).toFixed(0)} | ${((received / full) * 100).toFixed(1)} % |`;
  const figures = {
    documentBytes,
    changes,
    producerBytes,
    ssePatchBytes: sse.bytes,
    wsJsonPatchBytes: jsonPatch?.bytes,
    wsMergePatchBytes: ws.get('merge-patch')?.bytes,
    wsFullBytes: full,
    consistent,
    gaps,
  };
  results['bytes'] = figures;
  tables.push(
    `Patch bytes: a ${(documentBytes / 1024).toFixed(1)} KB document (100 orders of 10 fields, keyed by id), ${changes} seeded merge patches of 1–3 orders × 1–2 fields; bytes received by one subscriber of each kind (SSE: the whole \`event: patch\` text; WebSocket: frame payloads, ${subprotocol}). The JSON Patch subscriber applied every patch and ended on the edge's document: ${consistent ? 'yes' : 'NO'} (gaps ${gaps}). Target: patches ≤ 10 % of sending full documents.`,
    '',
    '| stream | bytes received | per change | vs full documents |',
    '| --- | ---: | ---: | ---: |',
    row('SSE patches (RFC 6902)', sse.bytes),
    row('WebSocket `delta: json-patch`', jsonPatch?.bytes ?? Number.NaN),
    row('WebSocket `delta: merge-patch`', ws.get('merge-patch')?.bytes ?? Number.NaN),
    row('WebSocket `delta: full` (the baseline)', full),
    row('producer: merge-patch bodies sent to the ingest', producerBytes),
    '',
  );
  say(`bytes: ${JSON.stringify(figures)}`);
}

// ---- latency ----------------------------------------------------------------------------------

/** The ingest's produce requests so far and the changes they carried (its `/metrics`). */
async function ingestProduceRequests(): Promise<{ requests: number; records: number }> {
  const text = await (await fetch(`${ingest.metricsBase}/metrics`)).text();
  const value = (name: string): number => {
    // `name{service="ingest"} value` (the registry's default labels) or `name value`.
    const line = text
      .split('\n')
      .find((candidate) => candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    requests: value('fanout_ingest_kafka_batch_events_count'),
    records: value('fanout_ingest_kafka_batch_events_sum'),
  };
}

/** A live channel's document (~700 bytes): its send time `t` and 10 rows. */
function liveDocument(index: number): JsonValue {
  return {
    t: 0,
    title: `Board ${index}`,
    rows: Object.fromEntries(
      Array.from({ length: 10 }, (_, row) => [
        `r${row}`,
        { status: 'open', total: row * 10, items: row, updated: '2026-12-03T03:00:00Z' },
      ]),
    ),
  };
}

async function latency(): Promise<void> {
  const channels = Array.from({ length: liveChannels }, (_, i) => `bench.live.board-${i}`);
  for (const [index, channel] of channels.entries()) {
    await writeState(ingest.httpBase, 'PUT', channel, liveDocument(index));
  }
  const worker = new Worker(new URL('./state-subscribers.js', import.meta.url), {
    workerData: {
      port: edge.port,
      subprotocol,
      channels: Array.from({ length: subscriberCount }, (_, i) => channels[i % liveChannels]),
    },
  });
  const [ready] = (await once(worker, 'message')) as [unknown];
  if (ready !== 'subscribed') throw new Error(`subscribers: ${String(ready)}`);
  say(`latency: ${subscriberCount} subscribers have their snapshots`);

  const ingestPort = Number(new URL(ingest.httpBase).port);
  const agent = new Agent({ keepAlive: true, maxSockets: producerConnections });
  const grpcClient = producerKind === 'grpc' ? ingestClient(ingest.grpcAddress) : undefined;
  /** Sends one merge patch; true when the ingest accepted it. */
  const sendChange = async (channel: string, body: string): Promise<boolean> => {
    if (grpcClient !== undefined) {
      await grpcClient.changeState({
        channel,
        operation: fanout.v1.StateOperation.STATE_OPERATION_MERGE,
        data: Buffer.from(body),
      });
      return true;
    }
    const answer = await httpCall(agent, ingestPort, 'PATCH', `/v1/state/${channel}`, body, {
      'content-type': 'application/merge-patch+json',
    });
    return answer.status === 200;
  };
  const random = seededRandom(42);
  let accepted = 0;
  let refused = 0;
  let inFlight = 0;
  let behind = 0;
  let ackMs: number[] = [];
  let turn = 0;
  const change = async (): Promise<void> => {
    const channel = channels[turn++ % liveChannels] ?? '';
    const sentAt = performance.timeOrigin + performance.now();
    const row = `r${Math.floor(random() * 10)}`;
    const body = JSON.stringify({
      t: Number(sentAt.toFixed(3)),
      rows: { [row]: { status: random() < 0.5 ? 'paid' : 'shipped', total: turn } },
    });
    inFlight++;
    try {
      if (await sendChange(channel, body)) {
        accepted++;
        ackMs.push(performance.timeOrigin + performance.now() - sentAt);
      } else refused++;
    } catch {
      refused++;
    } finally {
      inFlight--;
    }
  };
  /** Token bucket: `rate` changes/s in 5 ms steps; at most 256 in flight (else counted behind). */
  const produce = async (forSeconds: number): Promise<number> => {
    const began = performance.now();
    let sent = 0;
    const total = Math.floor(rate * forSeconds);
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - began) / 1000) * rate));
      while (sent < due) {
        if (inFlight >= 256) {
          behind++;
          break;
        }
        void change();
        sent++;
      }
      await sleep(5);
    }
    while (inFlight > 0) await sleep(5);
    return (performance.now() - began) / 1000;
  };

  /** Patches the subscribers applied since the last reset. */
  const applied = async (): Promise<number> => {
    worker.postMessage('count');
    const [count] = (await once(worker, 'message')) as [number];
    return count;
  };
  /** Waits (30 s at most) until the subscribers applied `count` patches since the reset. */
  const drained = async (count: number): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while ((await applied()) < count && Date.now() < deadline) await sleep(50);
  };

  worker.postMessage('reset');
  await produce(warmupSeconds);
  // Every warm-up patch applied before the measurement starts.
  await drained(accepted * (subscriberCount / liveChannels));
  worker.postMessage('reset');
  accepted = refused = behind = 0;
  ackMs = [];
  // The broker: the process listening on the first broker's port (undefined if not found).
  const brokerPid = pidListeningOn(Number(kafka.brokers[0]?.split(':').at(-1)));
  const pids = { edge: edge.pid, ingest: ingest.pid, broker: brokerPid };
  const cpuBefore = {
    edge: cpuSeconds(pids.edge) ?? 0,
    ingest: cpuSeconds(pids.ingest) ?? 0,
    broker: cpuSeconds(pids.broker),
  };
  const producedBefore = await ingestProduceRequests();
  const benchBefore = process.cpuUsage();
  const producerLoopBefore = performance.eventLoopUtilization();
  const machineBefore = machineTicks();
  const loadStart = loadAverage();
  const producedFor = await produce(seconds);
  const drainedFrom = performance.now();
  await drained(accepted * (subscriberCount / liveChannels));
  const elapsed = producedFor + (performance.now() - drainedFrom) / 1000;
  const machineAfter = machineTicks();
  const benchCpu = process.cpuUsage(benchBefore);
  const producerBusy = performance.eventLoopUtilization(producerLoopBefore).utilization;
  const producedAfter = await ingestProduceRequests();
  const produceRequests = producedAfter.requests - producedBefore.requests;
  const recordsPerRequest = (producedAfter.records - producedBefore.records) / produceRequests;
  const cpu = {
    edge: ((cpuSeconds(pids.edge) ?? 0) - cpuBefore.edge) / elapsed,
    ingest: ((cpuSeconds(pids.ingest) ?? 0) - cpuBefore.ingest) / elapsed,
    broker:
      cpuBefore.broker === undefined
        ? Number.NaN
        : ((cpuSeconds(pids.broker) ?? Number.NaN) - cpuBefore.broker) / elapsed,
    bench: (benchCpu.user + benchCpu.system) / 1e6 / elapsed,
    machine: machineBusyShare(machineBefore, machineAfter) * cpus().length,
  };
  worker.postMessage('collect');
  const [tally] = (await once(worker, 'message')) as [SubscriberTally];
  worker.postMessage('close');
  await once(worker, 'exit');
  agent.destroy();
  grpcClient?.close();
  // The broker's append time of every record, matched to each applied patch by position.
  const appendedAt = new Map<string, number>();
  for (const record of await readTopic(kafka.kafka, topic, 120_000)) {
    appendedAt.set(`${record.partition}:${record.offset}`, record.timestamp);
  }
  const fromAppend: number[] = [];
  let unmatched = 0;
  tally.positions.forEach((text, index) => {
    const position = parsePosition(text);
    const appended = appendedAt.get(`${position.partition}:${position.offset}`);
    const at = tally.appliedAt[index];
    if (appended === undefined || at === undefined) unmatched++;
    else fromAppend.push(at - appended);
  });
  const appendSorted = fromAppend.sort((a, b) => a - b);
  const sorted = tally.latencies.sort((a, b) => a - b);
  const acks = ackMs.sort((a, b) => a - b);
  const expected = accepted * (subscriberCount / liveChannels);
  const figures = {
    subscribers: subscriberCount,
    channels: liveChannels,
    rate,
    seconds,
    producedChangesPerSecond: accepted / producedFor,
    accepted,
    refused,
    behind,
    expected,
    applied: tally.applied,
    gaps: tally.gaps,
    failed: tally.failed,
    errors: tally.errors,
    deliveriesPerSecond: tally.applied / producedFor,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted.at(-1) ?? Number.NaN,
    ingestAckP50Ms: percentile(acks, 50),
    ingestAckP99Ms: percentile(acks, 99),
    producer: producerKind,
    appendedP50Ms: percentile(appendSorted, 50),
    appendedP99Ms: percentile(appendSorted, 99),
    appendedP999Ms: percentile(appendSorted, 99.9),
    appendedMaxMs: appendSorted.at(-1) ?? Number.NaN,
    /** Below 0 only if the broker's clock and this machine's disagree (the same clock here). */
    appendedMinMs: appendSorted[0] ?? Number.NaN,
    appendedUnmatched: unmatched,
    produceRequestsPerSecond: produceRequests / producedFor,
    /** How busy the bench's two event loops were (0–1): the producer's and the subscribers'. */
    producerLoopBusy: producerBusy,
    subscribersLoopBusy: tally.busy,
    changesPerProduceRequest: recordsPerRequest,
    cpu,
    /** CPU time per accepted change (µs), each process. */
    cpuMicrosPerChange: Object.fromEntries(
      Object.entries(cpu).map(([name, share]) => [name, (share * elapsed * 1e6) / accepted]),
    ),
    load: loadAverage(),
    loadStart,
  };
  const verdict = cpuVerdict({
    processes: [
      { name: 'the edge', role: 'server', threads: 'one', cores: cpu.edge },
      { name: 'the ingest', role: 'ingest', threads: 'one', cores: cpu.ingest },
      { name: 'the Kafka broker', role: 'broker', threads: 'many', cores: cpu.broker },
      // The producer's event loop and the subscribers' worker: two threads.
      {
        name: 'the bench (producer + subscribers)',
        role: 'client',
        threads: 'many',
        cores: cpu.bench,
      },
    ],
    machine: cpu.machine / cpus().length,
    cpuCount: cpus().length,
    loadStart,
    loadEnd: figures.load,
  });
  results['latency'] = { ...figures, verdict: verdict.words };
  const pct = (share: number): string => `${(share * 100).toFixed(0)} %`;
  const producerText =
    producerKind === 'grpc'
      ? "the ingest's gRPC ChangeState (unary calls on one HTTP/2 connection)"
      : `the ingest's HTTP PATCH (${producerConnections} keep-alive connections)`;
  const ms = (value: number): string => `${value.toFixed(1)} ms`;
  const micros = figures.cpuMicrosPerChange;
  const perChange = (name: string): string => {
    const value = micros[name];
    return value === undefined || Number.isNaN(value) ? '–' : `${value.toFixed(0)} µs`;
  };
  tables.push(
    `Latency: ${subscriberCount} WebSocket subscribers (${subprotocol}, \`delta: json-patch\`) over ${liveChannels} state channels (${subscriberCount / liveChannels} each, ~700-byte documents), ${rate} merge patches/s through ${producerText}, ${seconds} s after a ${warmupSeconds} s warm-up. Every subscriber, every patch. Send → applied: from the producer's send time in the document. Accepted → applied: from the broker's append time of the change's record (LogAppendTime, whole milliseconds). Targets (accepted → applied) p50 ≤ 10 ms, p99 ≤ 50 ms.`,
    '',
    '| changes/s accepted | deliveries/s (applied) | applied / expected | gaps | latency | p50 | p99 | p99.9 | max |',
    '| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    `| ${figures.producedChangesPerSecond.toFixed(0)} | ${figures.deliveriesPerSecond.toFixed(0)} | ${tally.applied.toLocaleString('en')} / ${expected.toLocaleString('en')} | ${tally.gaps} | accepted → applied | ${ms(figures.appendedP50Ms)} | ${ms(figures.appendedP99Ms)} | ${ms(figures.appendedP999Ms)} | ${ms(figures.appendedMaxMs)} |`,
    `| | | | | send → applied | ${ms(figures.p50Ms)} | ${ms(figures.p99Ms)} | ${ms(figures.p999Ms)} | ${ms(figures.maxMs)} |`,
    `| | | | | send → ingest's answer | ${ms(figures.ingestAckP50Ms)} | ${ms(figures.ingestAckP99Ms)} | | |`,
    '',
    '| CPU | edge | ingest | Kafka broker | bench (producer + subscribers) | whole machine (of ' +
      `${cpus().length} cores) | load average (1, 5, 15 min) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    `| share of one core | ${pct(cpu.edge)} | ${pct(cpu.ingest)} | ${Number.isNaN(cpu.broker) ? 'not found' : pct(cpu.broker)} | ${pct(cpu.bench)} | ${pct(cpu.machine)} | ${figures.load.join(', ')} |`,
    `| per accepted change | ${perChange('edge')} | ${perChange('ingest')} | ${perChange('broker')} | ${perChange('bench')} | ${perChange('machine')} | |`,
    '',
    `Verdict: ${verdict.words} (load average ${loadStart.join(', ')} at the start). The bench's event loops were busy ${pct(producerBusy)} (producer) and ${pct(tally.busy)} (the subscribers' thread) of the time.`,
    '',
    `Refused changes: ${refused}; producer steps that found 256 changes in flight: ${behind}; patches that did not apply: ${tally.failed}; unexpected frames: ${tally.errors}; applied patches whose record was not found: ${unmatched}; the ingest's Kafka produce requests: ${figures.produceRequestsPerSecond.toFixed(0)}/s, ${recordsPerRequest.toFixed(2)} changes each.`,
    '',
  );
  say(`latency: ${JSON.stringify(figures)}`);
}

// ---- run ----------------------------------------------------------------------------------------

try {
  if (sections.has('waterfall')) await waterfall();
  if (sections.has('bytes')) await bytes();
  if (sections.has('latency')) await latency();
  await writeSectionResults({ out: args.out, command, startedAt, tables, results });
  say(`wrote ${args.out}`);
} finally {
  await stack.stop();
  await kafka.close();
  await stopOwnKafka();
}
