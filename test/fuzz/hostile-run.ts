/**
 * The hostile-input run: a broker, an ingest and an edge as real processes
 * (authentication on), hostile input thrown at every port they serve, and
 * alongside it a control publisher and a control subscriber. The run fails
 * on an answer the contract does not allow, a process that exits, or a
 * control event lost, duplicated or reordered.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { jsonWireFormat, type WireFormat } from '@fanout/client';
import { protoWireFormat } from '@fanout/client/proto';
import {
  errorCodeForCloseCode,
  errorSpec,
  formatPosition,
  isErrorCode,
  PublishResponse,
  PublishStreamResponse,
  positionFromProto,
  toHttpStatus,
} from '@fanout/shared';
import WebSocket from 'ws';
import {
  hs256Token,
  ingestClient,
  nowSeconds,
  rawIngestClient,
  ResumingClient,
  startEdgeProcess,
  startIngestProcess,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
  type IngestProcess,
} from '../support/index.js';
import { AnswerTally } from './answer-tally.js';
import {
  edgeRequest,
  grpcMessage,
  ingestRequest,
  jsonFrame,
  protoFrame,
  rawHttp,
  token,
  type Credentials,
  type HttpInput,
  uriComponent,
} from './hostile-inputs.js';
import { RandomSource } from './random-source.js';

export interface HostileRunOptions {
  /** Stop after this many inputs (frames, requests, messages)... */
  readonly inputs: number;
  /** ...or after this long, whichever comes first. */
  readonly maxSeconds: number;
  readonly seed: number;
  /** Concurrent senders per kind of input (4). */
  readonly concurrency?: number;
  /** Progress lines; silent when absent. */
  readonly log?: (line: string) => void;
}

export interface ControlFigures {
  readonly acknowledged: number;
  readonly received: number;
  readonly subscriberConnects: number;
}

export interface HostileReport {
  readonly seed: number;
  readonly durationMs: number;
  readonly tally: AnswerTally;
  readonly control: ControlFigures;
  /** Peak resident memory, MiB, of each process. */
  readonly peakRssMiB: { readonly ingest: number; readonly edge: number };
  /** Everything that fails the run: crashes, control losses, wrong answers. */
  readonly failures: readonly string[];
}

const controlChannel = 'control.c';
/** RFC 6455 close codes a server may send a misbehaving client, or that mean "no close frame". */
const protocolCloses = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010]);

function rssMiB(pid: number): number {
  try {
    const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? Math.round(Number(line[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

function sample(input: unknown): string {
  const text = Buffer.isBuffer(input)
    ? `bytes ${input.subarray(0, 80).toString('hex')}`
    : typeof input === 'string'
      ? JSON.stringify(input.slice(0, 200))
      : JSON.stringify(input);
  return text.slice(0, 300);
}

function httpSample(input: HttpInput): string {
  const body = input.body === undefined ? '' : ` ${sample(input.body.toString('utf8'))}`;
  return `${input.method} ${input.path.slice(0, 200)} ${JSON.stringify(input.headers).slice(0, 300)}${body}`;
}

/** Checks an HTTP error answer: a catalog error, with the catalog's status. */
function checkHttpAnswer(
  tally: AnswerTally,
  target: string,
  input: HttpInput,
  status: number,
  contentType: string,
  body: string,
): void {
  if (status < 300) {
    tally.answer(`${target} ${status} ${contentType.split(';')[0] ?? ''}`);
    return;
  }
  if (input.method === 'HEAD') {
    tally.answer(`${target} ${status} (HEAD)`);
    return;
  }
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    tally.fail(
      `${target} ${status} without a JSON error body`,
      `${httpSample(input)} -> ${sample(body)}`,
    );
    return;
  }
  tally.answer(`${target} ${status} ${String(code)}`);
  if (typeof code !== 'string' || !isErrorCode(code)) {
    tally.fail(
      `${target} error code not in the catalog`,
      `${httpSample(input)} -> ${sample(body)}`,
    );
  } else if (code === 'internal') {
    tally.fail(`${target} internal error`, `${httpSample(input)} -> ${sample(body)}`);
  } else if (toHttpStatus(code) !== status) {
    tally.fail(
      `${target} status ${status} for ${code} (catalog: ${toHttpStatus(code)})`,
      `${httpSample(input)} -> ${sample(body)}`,
    );
  }
}

export async function runHostileInput(options: HostileRunOptions): Promise<HostileReport> {
  const log = options.log ?? ((): void => undefined);
  const random = new RandomSource(options.seed);
  const tally = new AnswerTally();
  const failures: string[] = [];
  const concurrency = options.concurrency ?? 4;

  const kafka = await testKafka();
  const topic = await kafka.createTopic({ name: 'fuzz', partitions: 3 });
  const secret = randomBytes(24).toString('base64url');
  const common = { FANOUT_AUTH_JWT_HS256_SECRET: secret, FANOUT_KAFKA_PARTITIONS: '3' };
  let stopping = false;
  let ingest: IngestProcess | undefined;
  let edge: EdgeProcess | undefined;
  const peak = { ingest: 0, edge: 0 };
  let sampler: NodeJS.Timeout | undefined;
  const started = Date.now();
  let control: ControlFigures;
  try {
    ingest = await startIngestProcess({
      brokers: kafka.brokers,
      topic,
      env: {
        ...common,
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_MAX_EVENT_BYTES: '65536',
        FANOUT_INGEST_MAX_BATCH_EVENTS: '10',
      },
    });
    edge = await startEdgeProcess({
      brokers: kafka.brokers,
      topic,
      env: { ...common, FANOUT_EDGE_AUTH_REQUIRED: 'true' },
    });
    const services = { ingest, edge };
    for (const [name, service] of Object.entries(services)) {
      void service.exited.then((code) => {
        if (!stopping) failures.push(`${name} exited (code ${String(code)}) during the run`);
      });
    }
    sampler = setInterval(() => {
      peak.ingest = Math.max(peak.ingest, rssMiB(services.ingest.pid));
      peak.edge = Math.max(peak.edge, rssMiB(services.edge.pid));
    }, 500);

    const claims = (
      namespaces: readonly string[],
      exp = nowSeconds() + 3600,
    ): Record<string, unknown> => ({
      sub: 'fuzzer',
      fanout_publish: namespaces,
      fanout_subscribe: namespaces,
      exp,
    });
    const credentials: Credentials = {
      valid: hs256Token(secret, claims(['fuzz'])),
      forged: hs256Token(`${secret}x`, claims(['fuzz', 'control'])),
      expired: hs256Token(secret, claims(['fuzz'], nowSeconds() - 60)),
    };
    const controlToken = hs256Token(secret, claims(['control']));

    // ---- control: one subscriber, one publisher, every event checked ----
    const subscriber = new ResumingClient(
      () => `${services.edge.wsUrl}?token=${controlToken}`,
      [controlChannel],
    );
    await subscriber.start();
    const acked: { id: string; position: string }[] = [];
    let controlDone = false;
    const publisher = (async (): Promise<void> => {
      const grpcClient = ingestClient(services.ingest.grpcAddress);
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${controlToken}`);
      try {
        for (let seq = 0; !controlDone; seq++) {
          const id = `control-${seq}`;
          let position: string | undefined;
          let lastError = '';
          for (let attempt = 0; position === undefined && attempt < 30; attempt++) {
            try {
              if (seq % 2 === 0) {
                const answer = await grpcClient.publish(
                  { events: [{ channel: controlChannel, id, data: Buffer.from(String(seq)) }] },
                  { metadata, deadlineMs: 10_000 },
                );
                const result = answer.results[0]?.position;
                if (result) position = formatPosition(positionFromProto(result));
              } else {
                const response = await fetch(
                  `${services.ingest.httpBase}/v1/channels/${controlChannel}/events`,
                  {
                    method: 'POST',
                    headers: {
                      authorization: `Bearer ${controlToken}`,
                      'content-type': 'application/json',
                    },
                    body: JSON.stringify({ id, data: seq }),
                    signal: AbortSignal.timeout(10_000),
                  },
                );
                const body = (await response.json()) as { results?: { position?: string }[] };
                if (response.ok) position = body.results?.[0]?.position;
                else lastError = JSON.stringify(body);
              }
            } catch (error) {
              lastError = error instanceof Error ? error.message : String(error);
            }
            if (position === undefined) await delay(200);
          }
          if (position === undefined) {
            failures.push(`control event ${id} was not acknowledged in 30 attempts: ${lastError}`);
            return;
          }
          acked.push({ id, position });
          await delay(20);
        }
      } finally {
        grpcClient.close();
      }
    })();

    // ---- hostile input ----
    const deadline = started + options.maxSeconds * 1000;
    const more = (): boolean =>
      tally.total < options.inputs && Date.now() < deadline && failures.length === 0;
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });

    const progress = setInterval(() => {
      log(
        `  ${tally.total} inputs, ${tally.wrongAnswers} wrong answers, ${acked.length} control events`,
      );
    }, 10_000);

    async function wsSession(format: 'json' | 'proto'): Promise<void> {
      const target = `ws-${format}`;
      const r = random;
      const protocols = r.chance(0.97)
        ? [format === 'json' ? 'fanout.json.v1' : 'fanout.proto.v1']
        : [r.pick(['bogus', 'fanout.json.v2'])];
      const query = r.chance(0.5) ? `?token=${uriComponent(token(r, credentials))}` : '';
      const socket = new WebSocket(`${services.edge.wsUrl}${query}`, protocols, {
        maxPayload: 8 * 1024 * 1024,
      });
      let last = Date.now();
      let closed = false;
      // Answers come in the format of the subprotocol offered (a session of either
      // format sometimes offers fanout.json.v2, which the edge takes).
      const wireFormat: WireFormat = protocols[0]?.startsWith('fanout.proto.')
        ? protoWireFormat
        : jsonWireFormat;
      const sent: unknown[] = [];
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        last = Date.now();
        if (socket.protocol !== protocols[0]) {
          tally.fail(`${target} frame on an unnegotiated subprotocol`, sample(data));
          return;
        }
        let message;
        try {
          message = wireFormat.decode(isBinary ? new Uint8Array(data) : data.toString('utf8'));
        } catch (error) {
          tally.fail(
            `${target} answer does not decode`,
            `${String(error)}: ${sample(data)} after ${sample(sent.at(-1))}`,
          );
          return;
        }
        if (message.kind === 'error') {
          tally.answer(`${target} error ${message.code}`);
          if (!isErrorCode(message.code) || message.code === 'internal') {
            tally.fail(
              `${target} error ${message.code}`,
              `${message.message} after ${sample(sent.at(-1))}`,
            );
          }
        } else if (message.kind === 'disconnect') {
          tally.answer(`${target} disconnect ${message.code}`);
          if (!isErrorCode(message.code) || message.code === 'internal') {
            tally.fail(
              `${target} disconnect ${message.code}`,
              `${message.message} after ${sample(sent.at(-1))}`,
            );
          }
        } else {
          tally.answer(`${target} ${message.kind}`);
        }
      });
      const done = new Promise<void>((resolve) => {
        socket.once('close', (code) => {
          closed = true;
          tally.answer(`${target} close ${code}`);
          const known =
            protocolCloses.has(code) ||
            (errorCodeForCloseCode(code) !== undefined && code !== 4000) ||
            code === 4400 ||
            code === 4500;
          if (!known) tally.fail(`${target} close ${code}`, `after ${sample(sent.at(-1))}`);
          resolve();
        });
      });
      socket.on('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 0;
        tally.answer(`${target} handshake ${status}`);
        if (status >= 500 && status !== 503) tally.fail(`${target} handshake ${status}`, query);
        response.resume();
        socket.terminate();
      });
      socket.on('error', () => undefined);
      const opened = await new Promise<boolean>((resolve) => {
        socket.once('open', () => {
          resolve(true);
        });
        void done.then(() => {
          resolve(false);
        });
      });
      tally.sent(target);
      if (opened) {
        const frames = r.between(1, 40);
        for (let i = 0; i < frames && !closed && more(); i++) {
          const frame = format === 'json' ? jsonFrame(r, credentials) : protoFrame(r, credentials);
          sent.push(frame);
          socket.send(frame, { binary: typeof frame !== 'string' });
          tally.sent(target);
          if (i % 8 === 7) await delay(1);
        }
        const until = Date.now() + 3000;
        while (!closed && Date.now() - last < 200 && Date.now() < until) await delay(50);
        socket.close();
        const timer = setTimeout(() => {
          socket.terminate();
        }, 1000);
        await done;
        clearTimeout(timer);
      } else {
        await done;
      }
    }

    function http(target: string, base: string, input: HttpInput): Promise<void> {
      return new Promise((resolve) => {
        const url = new URL(base);
        let request;
        try {
          request = httpRequest({
            host: url.hostname,
            port: url.port,
            method: input.method,
            path: input.path,
            headers: {
              ...input.headers,
              ...(input.body
                ? input.chunked
                  ? { 'transfer-encoding': 'chunked' }
                  : { 'content-length': String(input.body.length) }
                : {}),
            },
            agent,
            timeout: 5000,
          });
        } catch {
          // Node refuses to send this path or header; nothing was sent.
          resolve();
          return;
        }
        tally.sent(target);
        let timedOut = false;
        request.on('timeout', () => {
          // Every request gets an answer or a close, also on a keep-alive connection.
          timedOut = true;
          tally.answer(`${target} no answer in 5 s`, httpSample(input));
          tally.fail(`${target} no answer in 5 s`, httpSample(input));
          request.destroy();
        });
        request.on('error', (error: NodeJS.ErrnoException) => {
          // After a timeout, the error is the one destroy() caused.
          if (!timedOut)
            tally.answer(`${target} ${error.code ?? error.message}`, httpSample(input));
          resolve();
        });
        request.on('response', (response) => {
          const status = response.statusCode ?? 0;
          const contentType = response.headers['content-type'] ?? '';
          if (contentType.startsWith('text/event-stream')) {
            // A stream: its first bytes are enough; then hang up.
            tally.answer(`${target} ${status} text/event-stream`);
            response.once('data', () => request.destroy());
            setTimeout(() => request.destroy(), 300).unref();
            response.on('error', () => undefined);
            response.once('close', resolve);
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= 1024 * 1024) chunks.push(chunk);
          });
          response.on('error', () => undefined);
          response.once('end', () => {
            checkHttpAnswer(
              tally,
              target,
              input,
              status,
              contentType,
              Buffer.concat(chunks).toString('utf8'),
            );
            resolve();
          });
          response.once('close', resolve);
        });
        if (input.chunked && input.body) {
          request.write(input.body.subarray(0, input.body.length >> 1));
          request.end(input.body.subarray(input.body.length >> 1));
        } else request.end(input.body);
      });
    }

    function raw(target: string, port: number, bytes: Buffer): Promise<void> {
      return new Promise((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        let head = '';
        const finish = (kind: string): void => {
          tally.answer(`${target} ${kind}`);
          socket.destroy();
          resolve();
        };
        socket.setTimeout(1000, () => {
          finish(head === '' ? 'no answer in 1 s' : 'answered, kept open');
        });
        socket.on('data', (chunk) => {
          head += chunk.toString('latin1');
        });
        socket.on('error', () => undefined);
        socket.once('close', () => {
          const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
          finish(status ?? (head === '' ? 'closed' : 'non-HTTP answer'));
        });
        socket.once('connect', () => {
          tally.sent(target);
          socket.end(bytes);
        });
      });
    }

    /** gRPC calls with raw message bytes, so the bytes need not decode. */
    const grpcClient = rawIngestClient(services.ingest.grpcAddress);
    const grpcStatusOk = (target: string, error: grpc.ServiceError, what: string): void => {
      const code = error.metadata.get('fanout-error-code')[0];
      const name = grpc.status[error.code];
      tally.answer(`${target} ${name} ${code === undefined ? '' : String(code)}`.trim());
      if (code === undefined) {
        if (
          ![
            grpc.status.RESOURCE_EXHAUSTED,
            grpc.status.DEADLINE_EXCEEDED,
            grpc.status.CANCELLED,
          ].includes(error.code)
        ) {
          tally.fail(`${target} ${name} without an error code`, `${error.details} after ${what}`);
        }
        return;
      }
      const text = String(code);
      if (!isErrorCode(text) || text === 'internal') {
        tally.fail(`${target} error ${text}`, `${error.details} after ${what}`);
      } else if (grpc.status[errorSpec(text).grpc] !== error.code) {
        tally.fail(`${target} status ${name} for ${text}`, `${error.details} after ${what}`);
      }
    };
    const grpcMetadata = (r: RandomSource): grpc.Metadata => {
      const metadata = new grpc.Metadata();
      if (r.chance(0.7))
        metadata.set(
          'authorization',
          `Bearer ${token(r, credentials)}`.replace(/[^\x20-\x7e]/g, '?'),
        );
      if (r.chance(0.1)) metadata.set('x-api-key', r.text(r.between(1, 40), 'abc123'));
      return metadata;
    };
    function grpcUnary(): Promise<void> {
      const bytes = grpcMessage(random, false);
      tally.sent('grpc');
      return new Promise((resolve) => {
        grpcClient.publish(
          bytes,
          grpcMetadata(random),
          { deadline: Date.now() + 10_000 },
          (error, value) => {
            if (error) grpcStatusOk('grpc', error, sample(bytes));
            else {
              try {
                PublishResponse.decode(value ?? Buffer.alloc(0));
                tally.answer('grpc OK');
              } catch {
                tally.fail('grpc response does not decode', sample(value));
              }
            }
            resolve();
          },
        );
      });
    }
    function grpcStream(): Promise<void> {
      return new Promise((resolve) => {
        const call = grpcClient.publishStream(grpcMetadata(random), {
          deadline: Date.now() + 10_000,
        });
        let last: Buffer | undefined;
        call.on('data', (bytes: Buffer) => {
          try {
            const answer = PublishStreamResponse.decode(bytes);
            const code = answer.error?.code;
            tally.answer(`grpc-stream ${code ? `error ${code}` : 'result'}`);
            if (code && (!isErrorCode(code) || code === 'internal')) {
              tally.fail(
                `grpc-stream error ${code}`,
                `${answer.error?.message ?? ''} after ${sample(last)}`,
              );
            }
          } catch {
            tally.fail('grpc-stream response does not decode', sample(bytes));
          }
        });
        call.on('error', (error: grpc.ServiceError) => {
          grpcStatusOk('grpc-stream', error, sample(last));
        });
        call.on('status', () => {
          resolve();
        });
        const count = random.between(1, 20);
        for (let i = 0; i < count; i++) {
          last = grpcMessage(random, true);
          call.write(last);
          tally.sent('grpc-stream');
        }
        call.end();
      });
    }

    const loop = async (step: () => Promise<void>): Promise<void> => {
      while (more()) await step();
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < concurrency; i++) {
      workers.push(
        loop(() => wsSession('json')),
        loop(() => wsSession('proto')),
        loop(() => http('edge-http', services.edge.httpBase, edgeRequest(random, credentials))),
        loop(() =>
          http('ingest-http', services.ingest.httpBase, ingestRequest(random, credentials)),
        ),
        loop(() => (random.chance(0.7) ? grpcUnary() : grpcStream())),
      );
    }
    workers.push(
      loop(() =>
        random.chance(0.5)
          ? raw('edge-raw', services.edge.port, rawHttp(random))
          : raw('ingest-raw', Number(new URL(services.ingest.httpBase).port), rawHttp(random)),
      ),
    );
    await Promise.all(workers);
    clearInterval(progress);
    agent.destroy();
    grpcClient.close();

    // ---- the control events: every acknowledged one, once, in order ----
    controlDone = true;
    await publisher;
    const receivedControl = (): { id: string; position: string }[] =>
      subscriber.received.filter((event) => event.channel === controlChannel);
    await subscriber
      .until(() => receivedControl().length >= acked.length, 60_000)
      .catch(() => undefined);
    subscriber.stop();
    const received = receivedControl();
    control = {
      acknowledged: acked.length,
      received: received.length,
      subscriberConnects: subscriber.connects,
    };
    const ids = new Set<string>();
    for (const event of received) {
      if (ids.has(event.id)) failures.push(`control event ${event.id} delivered twice`);
      ids.add(event.id);
    }
    for (const [index, expected] of acked.entries()) {
      const got = received[index];
      if (!ids.has(expected.id))
        failures.push(`control event ${expected.id} (${expected.position}) lost`);
      else if (got?.id !== expected.id || got.position !== expected.position) {
        failures.push(
          `control event ${index}: expected ${expected.id} at ${expected.position}, got ${got?.id ?? 'nothing'} at ${got?.position ?? '-'}`,
        );
        break;
      }
    }
    if (received.length > acked.length) {
      failures.push(
        `${received.length - acked.length} control events received that were never acknowledged`,
      );
    }
    if (subscriber.unexpected.length > 0) {
      failures.push(`control subscriber got ${subscriber.unexpected.join(' ').slice(0, 300)}`);
    }
    if (acked.length === 0) failures.push('no control event was acknowledged');
    for (const [kind, { count, sample: example }] of tally.wrong) {
      failures.push(`${count} × ${kind}: ${example}`);
    }
    // Both processes still answer.
    for (const [name, base] of [
      ['ingest', services.ingest.metricsBase],
      ['edge', services.edge.metricsBase],
    ] as const) {
      const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(
        () => undefined,
      );
      if (ready?.status !== 200)
        failures.push(`${name} /readyz answers ${ready?.status ?? 'nothing'} after the run`);
    }
  } finally {
    stopping = true;
    if (sampler) clearInterval(sampler);
    await edge?.kill('SIGTERM');
    await ingest?.stop(10_000);
    await kafka.close();
    await stopOwnKafka();
  }
  return {
    seed: options.seed,
    durationMs: Date.now() - started,
    tally,
    control,
    peakRssMiB: peak,
    failures,
  };
}

/** The figures of a run, as printed. */
export function formatReport(report: HostileReport): string {
  const lines = [
    `seed ${report.seed}, ${(report.durationMs / 1000).toFixed(1)} s, ${report.tally.total} inputs`,
    `inputs by target: ${[...report.tally.inputs].map(([target, count]) => `${target} ${count}`).join(', ')}`,
    `control: ${report.control.acknowledged} acknowledged, ${report.control.received} received, subscriber connected ${report.control.subscriberConnects} time(s)`,
    `peak RSS: ingest ${report.peakRssMiB.ingest} MiB, edge ${report.peakRssMiB.edge} MiB`,
    'answers by class:',
    ...[...report.tally.classes]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([kind, count]) => `  ${String(count).padStart(8)}  ${kind}`),
    ...(report.tally.samples.size === 0 ? [] : ['first input of:']),
    ...[...report.tally.samples].map(([kind, input]) => `  ${kind}: ${input}`),
    report.failures.length === 0 ? 'no failures' : `FAILURES (${report.failures.length}):`,
    ...report.failures.map((failure) => `  ${failure}`),
  ];
  return lines.join('\n');
}
