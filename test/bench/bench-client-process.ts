/**
 * One client process of the suite's steady scenarios (broadcast, channels),
 * forked by the runner (`client-processes.ts`) with an IPC channel: it holds
 * its share of the subscribers (`client-shares.ts`), each an ordinary
 * counting connection of the target's protocol (`fanout-client.ts`,
 * `centrifugo-client.ts`), subscribes them when told, answers how many
 * messages they received, and times the frames of the sampled ones among
 * them (`LatencyRecorder`: arrival minus the send time each event carries,
 * in this process's event loop). It exits when the runner goes away.
 * Loopback only; bench-only code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchClient, ClientProtocol } from './bench-client.js';
import { centrifugoProtocol } from './centrifugo-client.js';
import type { ClientAnswer, ClientRequestMessage, IndexRange } from './client-process-messages.js';
import { fanoutProtocol } from './fanout-client.js';
import { ignoreFrame, LatencyRecorder } from './latency-sampling.js';

const protocols: Record<string, ClientProtocol> = {
  fanout: fanoutProtocol,
  centrifugo: centrifugoProtocol,
};

/** The held subscribers, by global index (ascending). */
let held: { index: number; client: BenchClient }[] = [];
const recorder = new LatencyRecorder();
let sampled: BenchClient[] = [];

function answer(id: number, message: ClientAnswer): void {
  if (process.connected) process.send?.({ ...message, id }, undefined, {}, () => undefined);
}

async function open(
  port: number,
  protocol: ClientProtocol,
  indices: readonly number[],
  sourceAddresses: readonly string[],
): Promise<void> {
  for (let i = 0; i < indices.length; i += 500) {
    const wave = indices.slice(i, i + 500).map((index) => ({
      index,
      client: protocol.open(port, sourceAddresses[index % sourceAddresses.length]),
    }));
    await Promise.all(wave.map(({ client }) => client.ready));
    held.push(...wave);
  }
}

/** The held subscribers with `from` ≤ index < `below`. */
function heldIn({ from, below }: IndexRange): { index: number; client: BenchClient }[] {
  return held.filter(({ index }) => index >= from && index < below);
}

async function subscribe(range: IndexRange, channels: readonly string[]): Promise<void> {
  const chosen = heldIn(range);
  const before = chosen.map(({ client }) => client.messages);
  for (const { index, client } of chosen) client.subscribe(channels[index % channels.length] ?? '');
  const deadline = Date.now() + 60_000;
  while (chosen.some(({ client }, i) => client.messages <= (before[i] ?? 0))) {
    if (Date.now() > deadline) throw new Error('subscriptions were not all confirmed in 60 s');
    await sleep(50);
  }
  const refused = chosen.find(({ client }) => client.error !== undefined);
  if (refused !== undefined) {
    throw new Error(`a subscription was refused: ${refused.client.error ?? ''}`);
  }
}

function stopSampling(): void {
  for (const client of sampled) client.sample(ignoreFrame);
  sampled = [];
}

async function handle(request: ClientRequestMessage): Promise<ClientAnswer> {
  switch (request.type) {
    case 'open': {
      const protocol = protocols[request.protocol];
      if (protocol === undefined) throw new Error(`no client protocol ${request.protocol}`);
      await open(request.port, protocol, request.indices, request.sourceAddresses);
      return { type: 'done' };
    }
    case 'subscribe':
      await subscribe(request, request.channels);
      return { type: 'done' };
    case 'unsubscribe':
      for (const { index, client } of heldIn(request)) {
        client.unsubscribe(request.channels[index % request.channels.length] ?? '');
      }
      return { type: 'done' };
    case 'sample': {
      stopSampling();
      recorder.reset();
      const wanted = new Set(request.indices);
      sampled = held.filter(({ index }) => wanted.has(index)).map(({ client }) => client);
      for (const client of sampled) client.sample(recorder.record);
      return { type: 'done' };
    }
    case 'reset':
      recorder.reset();
      return { type: 'done' };
    case 'take': {
      stopSampling();
      const timed = recorder.takeTimed();
      return {
        type: 'timed',
        latencies: Float64Array.from(timed.latencies),
        sent: Float64Array.from(timed.sent),
      };
    }
    case 'count':
      return {
        type: 'count',
        messages: heldIn(request).reduce((sum, { client }) => sum + client.messages, 0),
      };
    case 'close':
      stopSampling();
      for (const { client } of held) client.close();
      held = [];
      return { type: 'done' };
  }
}

process.on('message', (request: ClientRequestMessage) => {
  handle(request).then(
    (message) => {
      answer(request.id, message);
    },
    (error: unknown) => {
      answer(request.id, {
        type: 'failed',
        error: error instanceof Error ? error.message : String(error),
      });
    },
  );
});
// The runner went away: let the connections' FINs go out, then end.
process.on('disconnect', () => {
  for (const { client } of held) client.close();
  setTimeout(() => process.exit(0), 200);
});
