/**
 * The naive baseline the benchmarks compare the edge with: what one would
 * write first — the `ws` package for WebSockets and a kafkajs consumer (its
 * own consumer group, from the latest offsets) in each process, a map from
 * channel to sockets, and every Kafka record decoded and sent as JSON to the
 * channel's sockets. It speaks the subset of `fanout.json.v1` the benchmark
 * clients use (`subscribe`, `unsubscribe`; `subscribed`, `event`) so the
 * same clients measure both. It has no replay: a client that reconnects
 * gets live events only, and what was published meanwhile is lost to it.
 * Bench-only code; loopback only.
 *
 * Run as a process: NAIVE_BROKERS, NAIVE_TOPIC; prints one JSON line
 * `{"msg":"naive ready","port":N}` once the consumer has joined its group.
 */
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { decodeEvent } from '@fanout/shared';
import kafkajs from 'kafkajs';
import { WebSocketServer, type WebSocket } from 'ws';

const brokers = (process.env['NAIVE_BROKERS'] ?? '').split(',').filter((b) => b !== '');
const topic = process.env['NAIVE_TOPIC'] ?? '';
if (brokers.length === 0 || topic === '') {
  console.error('naive baseline: NAIVE_BROKERS and NAIVE_TOPIC are required');
  process.exit(2);
}

const subscribers = new Map<string, Set<WebSocket>>();

interface ClientFrame {
  subscribe?: { requestId?: number; subscriptions?: { channel?: string }[] };
  unsubscribe?: { requestId?: number; channels?: string[] };
}

const http = createServer((_request, response) => {
  response.writeHead(404).end();
});
const wss = new WebSocketServer({
  server: http,
  path: '/v1/ws',
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('fanout.json.v1') ? 'fanout.json.v1' : false),
});

wss.on('connection', (socket) => {
  const own = new Set<string>();
  socket.on('message', (raw: Buffer) => {
    let frame: ClientFrame;
    try {
      frame = JSON.parse(raw.toString('utf8')) as ClientFrame;
    } catch {
      return;
    }
    if (frame.subscribe) {
      const channels = (frame.subscribe.subscriptions ?? []).map((s) => s.channel ?? '');
      for (const channel of channels) {
        let set = subscribers.get(channel);
        if (set === undefined) subscribers.set(channel, (set = new Set()));
        set.add(socket);
        own.add(channel);
      }
      socket.send(
        JSON.stringify({
          subscribed: {
            requestId: frame.subscribe.requestId ?? 0,
            subscriptions: channels.map((channel) => ({ channel })),
          },
        }),
      );
    } else if (frame.unsubscribe) {
      for (const channel of frame.unsubscribe.channels ?? []) {
        subscribers.get(channel)?.delete(socket);
        own.delete(channel);
      }
      socket.send(JSON.stringify({ unsubscribed: frame.unsubscribe }));
    }
  });
  socket.on('close', () => {
    for (const channel of own) subscribers.get(channel)?.delete(socket);
  });
});

const kafka = new kafkajs.Kafka({
  clientId: 'naive-baseline',
  brokers,
  logLevel: kafkajs.logLevel.NOTHING,
});
const consumer = kafka.consumer({
  groupId: `naive-baseline-${process.pid}-${randomBytes(4).toString('hex')}`,
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: false });
const joined = new Promise<void>((resolve) => {
  consumer.on(consumer.events.GROUP_JOIN, () => {
    resolve();
  });
});
await consumer.run({
  eachMessage: ({ partition, message }) => {
    if (message.value === null) return Promise.resolve();
    const event = decodeEvent(message.value);
    const sockets = subscribers.get(event.channel);
    if (sockets === undefined || sockets.size === 0) return Promise.resolve();
    const json = event.contentType.includes('json');
    const millis = (event.time?.seconds ?? 0) * 1000 + Math.floor((event.time?.nanos ?? 0) / 1e6);
    const frame = JSON.stringify({
      event: {
        id: event.id,
        channel: event.channel,
        type: event.type,
        ...(json
          ? { data: JSON.parse(Buffer.from(event.data).toString('utf8')) as unknown }
          : { dataBase64: Buffer.from(event.data).toString('base64') }),
        contentType: event.contentType,
        time: new Date(millis).toISOString(),
        producer: event.producer,
        position: `${partition}:${message.offset}`,
      },
    });
    for (const socket of sockets) socket.send(frame);
    return Promise.resolve();
  },
});
await joined;
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  console.log(JSON.stringify({ msg: 'naive ready', port }));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const client of wss.clients) client.terminate();
    http.close();
    void consumer.disconnect().finally(() => process.exit(0));
  });
}
