import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { ClientFrame, partitionForChannel, ServerFrame } from '@fanout/shared';
import {
  startEdge,
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  type TestKafka,
  startEdgeStack,
  type EdgeStack,
} from '../support/index.js';

const partitions = 3;

describe('edge delivery from Kafka', () => {
  let stack: EdgeStack;
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let edge: EdgeHarness;
  let topic: string;
  let epoch: string;
  let counter = 0;

  async function publish(channel: string, count: number, type = 'tick'): Promise<string[]> {
    const positions: string[] = [];
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type, data: { n: counter++ } }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      const body = (await response.json()) as { results: { position: string }[] };
      positions.push(body.results[0]?.position ?? '');
    }
    return positions;
  }

  function channel(name: string): string {
    return `edge.${name}.${Math.random().toString(36).slice(2, 8)}`;
  }

  before(async () => {
    stack = await startEdgeStack({ name: 'edge', partitions });
    ({ kafka, topic, ingest, edge } = stack);
    const [first] = await publish(channel('warmup'), 1);
    epoch = (first ?? '').split(':')[0] ?? '';
  });

  after(() => stack.stop());

  it('delivers live events over fanout.json.v1 in order with their positions', async () => {
    const name = channel('live');
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    assert.equal(socket.socket.protocol, 'fanout.json.v1');
    const [connected] = await socket.takeJson('connected');
    assert.equal(typeof connected?.['edgeId'], 'string');
    socket.sendJson({ subscribe: { requestId: 7, subscriptions: [{ channel: name }] } });
    const [subscribed] = await socket.takeJson('subscribed');
    assert.equal(subscribed?.['requestId'], 7);
    const positions = await publish(name, 5);
    const events = await socket.takeJson('event', 5);
    assert.deepEqual(
      events.map((event) => event['position']),
      positions,
    );
    assert.deepEqual(
      events.map((event) => (event['data'] as { n: number }).n),
      [...events.keys()].map((index) => (events[0]?.['data'] as { n: number }).n + index),
    );
    socket.close();
  });

  it('resumes after a position with every missed event, then live, without a duplicate', async () => {
    const name = channel('resume');
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    const earlier = await publish(name, 6);
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: name, since: earlier[1] }] },
    });
    const [subscribed] = await socket.takeJson('subscribed');
    assert.deepEqual(subscribed?.['subscriptions'], [{ channel: name, position: earlier[1] }]);
    const later = await publish(name, 3);
    const events = await socket.takeJson('event', 7);
    assert.deepEqual(
      events.map((event) => event['position']),
      [...earlier.slice(2), ...later],
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(
      socket.frames.filter((frame) => frame.data.toString().startsWith('{"event"')).length,
      0,
      'no duplicate after the seam',
    );
    socket.close();
  });

  it('replays cold from Kafka on a fresh edge while new events arrive, with no gap or duplicate', async () => {
    const name = channel('cold');
    const earlier = await publish(name, 300);
    const fresh = await startEdge({
      brokers: kafka.brokers,
      topic,
      env: { FANOUT_EDGE_REPLAY_BUFFER_EVENTS: '50' },
    });
    try {
      const socket = new TestSocket(fresh.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({
        subscribe: { requestId: 1, subscriptions: [{ channel: name, since: earlier[9] }] },
      });
      const publishing = publish(name, 40);
      const events = await socket.takeJson('event', 290 + 40, 20_000);
      const later = await publishing;
      assert.deepEqual(
        events.map((event) => event['position']),
        [...earlier.slice(10), ...later],
      );
      socket.close();
    } finally {
      await fresh.stop();
    }
  });

  it('answers a position of another epoch with reset, never with events', async () => {
    const name = channel('epoch');
    const partition = partitionForChannel(name, partitions);
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: {
        requestId: 3,
        subscriptions: [{ channel: name, since: `AAAAAAAAAAAAAAAAAAAAAA:${partition}:5` }],
      },
    });
    const [reset] = await socket.takeJson('reset');
    assert.equal(reset?.['code'], 'position_epoch_mismatch');
    assert.equal(reset?.['requestId'], 3);
    assert.match(String(reset?.['earliest']), new RegExp(`^${epoch}:${partition}:`));
    const [subscribed] = await socket.takeJson('subscribed');
    assert.deepEqual(subscribed?.['subscriptions'], []);
    socket.close();
  });

  it("answers a position of another partition than the channel's with reset and 410, never live from now", async () => {
    const name = channel('moved');
    const partition = partitionForChannel(name, partitions);
    const other = (partition + 1) % partitions;
    await publish(name, 1);
    const foreign = `${epoch}:${other}:0`;

    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 5, subscriptions: [{ channel: name, since: foreign }] },
    });
    const [reset] = await socket.takeJson('reset');
    assert.equal(reset?.['code'], 'position_partition_mismatch');
    assert.equal(reset?.['requestId'], 5);
    assert.equal(reset?.['requested'], foreign);
    assert.match(String(reset?.['earliest']), new RegExp(`^${epoch}:${partition}:`));
    const [subscribed] = await socket.takeJson('subscribed');
    assert.deepEqual(subscribed?.['subscriptions'], []);
    socket.close();

    const stream = await fetch(`${edge.httpBase}/v1/channels/${name}?watch=true`, {
      headers: { 'last-event-id': foreign },
    });
    assert.equal(stream.status, 200);
    const text = await stream.text();
    assert.match(text, /event: reset\ndata: \{"code":"position_partition_mismatch"/);
    assert.doesNotMatch(text, /event: subscribed/);

    const poll = await fetch(`${edge.httpBase}/v1/channels/${name}?after=${foreign}`);
    assert.equal(poll.status, 410);
    const body = (await poll.json()) as { error: { code: string; details: { earliest: string } } };
    assert.equal(body.error.code, 'position_partition_mismatch');
    assert.match(body.error.details.earliest, new RegExp(`^${epoch}:${partition}:`));
  });

  it('answers a position older than the log start with reset and 410 Gone', async () => {
    const name = channel('old');
    const positions = await publish(name, 4);
    const partition = partitionForChannel(name, partitions);
    const admin = kafka.kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] });
    const last = Number(positions[3]?.split(':')[2]);
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(last) }] });
    await admin.disconnect();
    // The edge learns the new log start from its next fetch of the partition.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const response = await fetch(`${edge.httpBase}/v1/channels/${name}?after=${positions[0]}`);
    assert.equal(response.status, 410);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'position_too_old');
    const fresh = await startEdge({ brokers: kafka.brokers, topic });
    try {
      const socket = new TestSocket(fresh.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({
        subscribe: { requestId: 4, subscriptions: [{ channel: name, since: positions[0] }] },
      });
      const [reset] = await socket.takeJson('reset');
      assert.equal(reset?.['code'], 'position_too_old');
      assert.equal(reset?.['earliest'], `${epoch}:${partition}:${last - 1}`);
      socket.close();
    } finally {
      await fresh.stop();
    }
  });

  it('delivers binary frames over fanout.proto.v1', async () => {
    const name = channel('proto');
    const socket = new TestSocket(edge.wsUrl, 'fanout.proto.v1');
    await socket.opened;
    socket.socket.send(
      ClientFrame.encode({
        subscribe: { requestId: 2, subscriptions: [{ channel: name }] },
      }).finish(),
    );
    await socket.take(1, (frame) => (ServerFrame.decode(frame.data).subscribed ? true : undefined));
    const positions = await publish(name, 2);
    const events = await socket.take(
      2,
      (frame) => ServerFrame.decode(frame.data).event ?? undefined,
    );
    assert.deepEqual(
      events.map(
        (event) =>
          `${event.position?.epoch}:${event.position?.partition}:${String(event.position?.offset)}`,
      ),
      positions,
    );
    assert.equal(events[0]?.channel, name);
    socket.close();
  });

  it('answers bad frames with an error frame and keeps the connection', async () => {
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.socket.send('not json');
    const [error] = await socket.takeJson('error');
    assert.equal(error?.['code'], 'frame_invalid');
    socket.sendJson({ subscribe: { requestId: 9, subscriptions: [{ channel: 'bad channel' }] } });
    const [invalid] = await socket.takeJson('error');
    assert.equal(invalid?.['code'], 'channel_invalid');
    assert.equal(invalid?.['requestId'], 9);
    socket.sendJson({ ping: { requestId: 5 } });
    const [pong] = await socket.takeJson('pong');
    assert.equal(pong?.['requestId'], 5);
    socket.close();
  });

  it('refuses a WebSocket without a fanout subprotocol with 400 subprotocol_unsupported', async () => {
    const socket = new TestSocket(edge.wsUrl, 'chat');
    await assert.rejects(socket.opened, /HTTP 400/);
  });

  it('streams SSE with ids that resume exactly through Last-Event-ID', async () => {
    const name = channel('sse');
    const earlier = await publish(name, 3);
    const received: { id: string; position: string }[] = [];
    const source = new EventSource(
      `${edge.httpBase}/v1/channels/${name}?watch=true&since=${earlier[0]}`,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        source.onmessage = (message) => {
          const event = JSON.parse(String(message.data)) as { position: string };
          received.push({ id: message.lastEventId, position: event.position });
          if (received.length === 2) resolve();
        };
        source.onerror = () => {
          reject(new Error('SSE failed'));
        };
      });
    } finally {
      source.close();
    }
    assert.deepEqual(
      received.map((event) => event.id),
      earlier.slice(1),
    );
    assert.deepEqual(
      received.map((event) => event.position),
      earlier.slice(1),
    );
    const later = await publish(name, 2);
    const resumed = await fetch(`${edge.httpBase}/v1/channels/${name}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': received[1]?.id ?? '' },
    });
    assert.equal(resumed.headers.get('content-type'), 'text/event-stream');
    const reader = resumed.body?.getReader();
    let text = '';
    while (!text.includes(later[1] ?? '!')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += Buffer.from(chunk.value).toString('utf8');
    }
    await reader?.cancel();
    assert.match(text, /^retry: \d+/);
    const ids = [...text.matchAll(/^id: (.+)$/gm)].map((match) => match[1]);
    assert.deepEqual(ids, [received[1]?.id, ...later]);
  });

  it('multiplexes channels in one SSE stream whose id is the cursor of every partition', async () => {
    const a = channel('multi-a');
    const b = channel('multi-b');
    const response = await fetch(`${edge.httpBase}/v1/stream?channels=${a},${b}`);
    const reader = response.body?.getReader();
    const read = async (until: RegExp): Promise<string> => {
      let text = '';
      while (!until.test(text)) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        text += Buffer.from(chunk.value).toString('utf8');
      }
      return text;
    };
    const opening = await read(/event: subscribed\nid: [^\n]+\n/);
    const cursor = /event: subscribed\nid: ([^\n]+)\n/.exec(opening)?.[1] ?? '';
    assert.match(cursor, new RegExp(`^${epoch}:\\d+:-?\\d+`));
    const [pa] = await publish(a, 1);
    const [pb] = await publish(b, 1);
    // The two channels may sit in different partitions, whose events one
    // fetch can hand over in either order: read until both arrived.
    const text = await read(
      new RegExp(
        `"position":"${pa}"[^]*"position":"${pb}"|"position":"${pb}"[^]*"position":"${pa}"`,
      ),
    );
    await reader?.cancel();
    // The cursor of each partition is at or past its event: a partition's
    // cursor also moves over other channels' events it examined.
    const lastId = [...text.matchAll(/^id: (.+)$/gm)].at(-1)?.[1] ?? '';
    for (const position of [pa, pb]) {
      const [, partition, offset] = (position ?? '').split(':');
      const cursor = new RegExp(`[:,]${partition}:(\\d+)(,|$)`).exec(lastId)?.[1];
      assert.ok(
        cursor !== undefined && Number(cursor) >= Number(offset),
        `${lastId} covers ${position}`,
      );
    }
  });

  it('long-polls: returns as soon as a newer event exists', async () => {
    const name = channel('poll');
    const [first] = await publish(name, 1);
    const started = Date.now();
    const polling = fetch(`${edge.httpBase}/v1/channels/${name}?after=${first}&wait=20`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [second] = await publish(name, 1);
    const response = await polling;
    assert.equal(response.status, 200);
    const body = (await response.json()) as { events: { position: string }[]; position: string };
    assert.deepEqual(
      body.events.map((event) => event.position),
      [second],
    );
    assert.equal(body.position, second);
    assert.ok(Date.now() - started < 15_000);
    const recent = (await (await fetch(`${edge.httpBase}/v1/channels/${name}?limit=1`)).json()) as {
      events: { position: string }[];
    };
    assert.deepEqual(
      recent.events.map((event) => event.position),
      [second],
    );
  });
});
