/**
 * Publish throughput of Centrifugo's server HTTP API, the counterpart of the
 * suite's `ingest` scenario (fanout's gRPC `Publish` with 100 events a call,
 * 8 calls in flight): `POST /api/batch` with 100 `publish` commands a call,
 * 8 calls in flight on keep-alive connections, with the API key. Each
 * command publishes 256 bytes of JSON data into one of 64 channels (with
 * history, as configured for the suite). A call is done when Centrifugo
 * answered it, i.e. when its broker (memory, one node) holds the
 * publications — not Kafka: Centrifugo's HTTP API does not write to Kafka.
 */
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PublishThroughputOptions {
  readonly port: number;
  readonly apiKey: string;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly batchSize?: number;
  readonly concurrency?: number;
}

function post(agent: Agent, port: number, apiKey: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/batch',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-api-key': apiKey,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) {
            reject(new Error(`Centrifugo /api/batch: HTTP ${response.statusCode} ${text}`));
          } else if (text.includes('"error"')) {
            reject(new Error(`Centrifugo /api/batch: ${text.slice(0, 300)}`));
          } else {
            resolve(text);
          }
        });
        response.on('error', reject);
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

/** Events per second Centrifugo's HTTP API accepted, after a warm-up. */
export async function centrifugoPublishThroughput(
  options: PublishThroughputOptions,
): Promise<number> {
  const batchSize = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 8;
  const data = { p: 'x'.repeat(248) };
  const body = Buffer.from(
    JSON.stringify({
      commands: Array.from({ length: batchSize }, (_, i) => ({
        publish: { channel: `bench.centrifugo-ingest.${i % 64}`, data },
      })),
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let events = 0;
  let running = true;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    try {
      while (running) {
        await post(agent, options.port, options.apiKey, body);
        events += batchSize;
      }
    } catch (error) {
      failure ??= error instanceof Error ? error : new Error(String(error));
      running = false;
    }
  };
  try {
    const workers = Array.from({ length: concurrency }, worker);
    await sleep(options.warmupSeconds * 1000);
    const eventsBefore = events;
    const started = performance.now();
    await sleep(options.seconds * 1000);
    const counted = events - eventsBefore;
    const elapsed = (performance.now() - started) / 1000;
    running = false;
    await Promise.all(workers);
    if (failure !== undefined) throw failure;
    return counted / elapsed;
  } finally {
    running = false;
    agent.destroy();
  }
}
