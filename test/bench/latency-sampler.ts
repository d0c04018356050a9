/**
 * Latency sampling for the edge benchmark, in a worker thread: a few
 * WebSocket connections of their own, so their frames are read as soon as
 * they arrive instead of queueing behind the ten thousand connections the
 * main thread counts. Each event's data holds its send time (wall clock,
 * milliseconds); the worker keeps arrival minus send time.
 *
 * Messages in: { channels: string[] } to subscribe one connection per
 * channel (answered with 'subscribed'), 'reset', 'collect' (answered with
 * the latencies since the last reset), 'close'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RawWsClient } from '../support/raw-ws-client.js';

const port = (workerData as { port: number }).port;
const clients: RawWsClient[] = [];
let latencies: number[] = [];

function onPayload(payload: Buffer): void {
  const t = /"t":([\d.]+)/.exec(payload.toString('latin1'))?.[1];
  if (t !== undefined) latencies.push(performance.timeOrigin + performance.now() - Number(t));
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
        const client = new RawWsClient(port, '/v1/ws', 'fanout.json.v1');
        await client.ready;
        client.sendText(
          JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel }] } }),
        );
        clients.push(client);
      }
      while (clients.some((client) => client.frames === 0)) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const client of clients) client.sample(onPayload);
      parentPort?.postMessage('subscribed');
    }
  })();
});
