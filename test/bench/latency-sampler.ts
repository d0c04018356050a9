/**
 * Latency sampling for the edge benchmark, in a worker thread: a few
 * WebSocket connections of their own, so their frames are read as soon as
 * they arrive instead of queueing behind the ten thousand connections the
 * main thread counts. Each event's data holds its send time (wall clock,
 * milliseconds); the worker keeps arrival minus send time. The connections
 * speak the server's protocol (`workerData.protocol`: `fanout` or
 * `centrifugo`, see `bench-client.ts`).
 *
 * Messages in: { channels: string[] } to subscribe one connection per
 * channel (answered with 'subscribed'), 'reset', 'collect' (answered with
 * the latencies since the last reset), 'close'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sendTimes, type BenchClient, type ProtocolName } from './bench-client.js';
import { centrifugoProtocol } from './centrifugo-client.js';
import { fanoutProtocol } from './fanout-client.js';

const { port, protocol: protocolName } = workerData as { port: number; protocol: ProtocolName };
const protocol = protocolName === 'centrifugo' ? centrifugoProtocol : fanoutProtocol;
const clients: BenchClient[] = [];
let latencies: number[] = [];

function onPayload(payload: Buffer): void {
  const now = performance.timeOrigin + performance.now();
  for (const t of sendTimes(payload)) latencies.push(now - t);
}

parentPort?.on('message', (message: unknown) => {
  void (async () => {
    if (message === 'reset') {
      latencies = [];
    } else if (message === 'collect') {
      parentPort?.postMessage(latencies);
      latencies = [];
    } else if (message === 'close') {
      for (const client of clients.splice(0)) client.close();
      parentPort?.close();
    } else if (typeof message === 'object' && message !== null && 'channels' in message) {
      for (const client of clients.splice(0)) client.close();
      for (const channel of (message as { channels: string[] }).channels) {
        const client = protocol.open(port);
        await client.ready;
        client.subscribe(channel);
        clients.push(client);
      }
      while (clients.some((client) => client.messages === 0)) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const client of clients) client.sample(onPayload);
      parentPort?.postMessage('subscribed');
    }
  })();
});
