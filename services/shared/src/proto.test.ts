import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import descriptor from 'protobufjs/ext/descriptor.js';
import { IngestServiceDefinition } from '../generated/ingest-service.js';
import {
  ClientFrame,
  decodeEvent,
  DisconnectAction,
  encodeEvent,
  Event,
  type fanout,
  pb,
  Position,
  PublishRequest,
  PublishStreamRequest,
  PublishStreamResponse,
  ServerFrame,
} from './proto.js';

/** The parts of google.protobuf.FileDescriptorSet these tests read. */
interface DescriptorSet {
  file: {
    name: string;
    package: string;
    dependency?: string[];
    messageType?: {
      name: string;
      field?: {
        name: string;
        number: number;
        type: string;
        typeName?: string;
        oneofIndex?: number;
      }[];
      oneofDecl?: { name: string }[];
    }[];
    service?: {
      name: string;
      method: {
        name: string;
        inputType: string;
        outputType: string;
        clientStreaming?: boolean;
        serverStreaming?: boolean;
      }[];
    }[];
  }[];
}

const generated = new URL('../generated/', import.meta.url);
const descriptorSet = descriptor.FileDescriptorSet.toObject(
  descriptor.FileDescriptorSet.decode(readFileSync(new URL('fanout.descriptor.bin', generated))),
  { enums: String },
) as DescriptorSet;

function messageType(fullName: string) {
  const dot = fullName.lastIndexOf('.');
  const [pkg, name] = [fullName.slice(0, dot), fullName.slice(dot + 1)];
  const found = descriptorSet.file
    .filter((file) => file.package === pkg)
    .flatMap((file) => file.messageType ?? [])
    .find((type) => type.name === name);
  assert.ok(found, `${fullName} is in the descriptor set`);
  return found;
}

/** Names of the members of a message's oneof, in field-number order. */
function oneofMembers(fullName: string, oneof: string): string[] {
  const type = messageType(fullName);
  const index = (type.oneofDecl ?? []).findIndex((decl) => decl.name === oneof);
  assert.ok(index >= 0, `${fullName} has oneof ${oneof}`);
  return (type.field ?? []).filter((field) => field.oneofIndex === index).map((f) => f.name);
}

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const position = { epoch: 'k7Hq2a', partition: 3, offset: 1042 };
const timestamp = { seconds: 1_700_000_000, nanos: 5 };

/** One sample of every ClientFrame case. */
const clientFrames: Record<string, fanout.v1.ClientFrame.$Properties> = {
  connect: { connect: { requestId: 1, token: 'jwt' } },
  subscribe: {
    subscribe: {
      requestId: 2,
      subscriptions: [
        { channel: 'orders.*', since: position, types: ['order.created', 'order.paid'] },
        { channel: 'prices.eu' },
      ],
    },
  },
  unsubscribe: { unsubscribe: { requestId: 3, channels: ['orders.*'] } },
  ping: { ping: { requestId: 4 } },
  refresh_token: { refreshToken: { requestId: 5, token: 'jwt-2' } },
};

/** One sample of every ServerFrame case. */
const serverFrames: Record<string, fanout.v1.ServerFrame.$Properties> = {
  connected: {
    connected: {
      requestId: 1,
      edgeId: 'edge-0',
      tokenExpiresAt: timestamp,
      pingIntervalSeconds: 25,
    },
  },
  subscribed: {
    subscribed: { requestId: 2, subscriptions: [{ channel: 'orders.*', position }] },
  },
  unsubscribed: { unsubscribed: { requestId: 3, channels: ['orders.*'] } },
  event: {
    event: {
      id: 'evt-1',
      channel: 'orders.eu.1',
      type: 'order.created',
      data: new Uint8Array([1, 2, 3]),
      contentType: 'application/json',
      time: timestamp,
      headers: { tenant: 'a' },
      producer: 'svc-a',
      position,
    },
  },
  error: {
    error: { requestId: 2, code: 'permission_denied', message: 'no', channel: 'orders.*' },
  },
  reset: {
    reset: {
      channel: 'orders.eu.1',
      requested: { ...position, offset: 5 },
      earliest: position,
      code: 'position_too_old',
      requestId: 2,
    },
  },
  pong: { pong: { requestId: 4 } },
  token_refreshed: { tokenRefreshed: { requestId: 5, expiresAt: timestamp } },
  disconnect: {
    disconnect: {
      closeCode: 4200,
      code: 'draining',
      message: 'edge is shutting down',
      action: DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE,
      hint: 'wss://edge-1.example/v1/ws',
      positions: [{ channel: 'orders.*', position }],
    },
  },
  batch: {
    batch: {
      events: [
        { id: 'evt-1', channel: 'orders.eu.1', type: 'order.created', position },
        {
          id: 'evt-2',
          channel: 'orders.eu.1',
          type: 'order.paid',
          position: { ...position, offset: 8 },
        },
      ],
    },
  },
  snapshot: {
    snapshot: {
      requestId: 6,
      channel: 'rooms.42',
      position,
      exists: true,
      state: new TextEncoder().encode('{"title":"Lobby"}'),
      reset: true,
    },
  },
  patch: {
    patch: {
      channel: 'rooms.42',
      position: { ...position, offset: 9 },
      base: position,
      delta: pb.StateDelta.STATE_DELTA_MERGE_PATCH,
      patch: new TextEncoder().encode('{"title":"Hall"}'),
      exists: true,
    },
  },
  state_change_refused: {
    stateChangeRefused: {
      channel: 'rooms.42',
      position: { ...position, offset: 10 },
      reason: 'too-large',
      message: 'the document would be too large',
    },
  },
};

const asPlain = { bytes: Array } as const;

describe('event envelope', () => {
  it('round-trips every field as a Kafka record value', () => {
    const event = {
      id: 'evt-1',
      channel: 'orders.eu.1',
      type: 'order.created',
      data: new Uint8Array([1, 2, 3]),
      contentType: 'application/octet-stream',
      time: timestamp,
      headers: { tenant: 'a', region: 'eu' },
      trace: {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'vendor=1',
      },
      producer: 'svc-a',
    };
    const decoded = decodeEvent(encodeEvent(event));
    assert.deepEqual(Event.toObject(decoded, asPlain), { ...event, data: [1, 2, 3] });
  });

  it('never stores a position in the record value', () => {
    const decoded = decodeEvent(encodeEvent({ id: 'e', channel: 'c', position }));
    assert.equal(decoded.position, null);
    assert.equal(decoded.id, 'e');
  });

  it('decodes 64-bit fields as exact JavaScript numbers, not Long objects', () => {
    const big = { epoch: 'e', partition: 2_147_483_647, offset: Number.MAX_SAFE_INTEGER };
    const decoded = Position.decode(Position.encode(big).finish());
    assert.equal(typeof decoded.offset, 'number');
    assert.deepEqual(Position.toObject(decoded), big);
    const event = decodeEvent(encodeEvent({ time: { seconds: 4_102_444_800 } }));
    assert.equal(typeof event.time?.seconds, 'number');
    const request = PublishStreamRequest.decode(
      PublishStreamRequest.encode({ sequence: 2 ** 40 }).finish(),
    );
    assert.equal(request.sequence, 2 ** 40);
  });

  it('rejects malformed record values', () => {
    // Field 1 (id) announces 5 bytes of string but only 1 follows.
    assert.throws(() => decodeEvent(new Uint8Array([0x0a, 0x05, 0x61])));
  });
});

describe('binary WebSocket frames', () => {
  it('has a sample of every ClientFrame and ServerFrame case of the contract', () => {
    assert.deepEqual(Object.keys(clientFrames), oneofMembers('fanout.v1.ClientFrame', 'frame'));
    assert.deepEqual(Object.keys(serverFrames), oneofMembers('fanout.v1.ServerFrame', 'frame'));
  });

  for (const [name, frame] of Object.entries(clientFrames)) {
    it(`round-trips the client frame ${name}`, () => {
      const decoded = ClientFrame.decode(ClientFrame.encode(frame).finish());
      assert.equal(decoded.frame && snakeCase(decoded.frame), name);
      assert.deepEqual(
        ClientFrame.toObject(decoded, asPlain),
        ClientFrame.toObject(ClientFrame.create(frame), asPlain),
      );
    });
  }

  for (const [name, frame] of Object.entries(serverFrames)) {
    it(`round-trips the server frame ${name}`, () => {
      const decoded = ServerFrame.decode(ServerFrame.encode(frame).finish());
      assert.equal(decoded.frame && snakeCase(decoded.frame), name);
      assert.deepEqual(
        ServerFrame.toObject(decoded, asPlain),
        ServerFrame.toObject(ServerFrame.create(frame), asPlain),
      );
    });
  }

  it('carries a uint32 request_id in every client frame and in every reply to one', () => {
    const memberType = (frame: string, member: string) => {
      const field = messageType(frame).field?.find((candidate) => candidate.name === member);
      assert.ok(field?.typeName, `${frame}.${member} is a message`);
      return messageType(field.typeName.replace(/^\./, ''));
    };
    const replies = [
      'connected',
      'subscribed',
      'unsubscribed',
      'error',
      'reset',
      'pong',
      'token_refreshed',
    ];
    for (const member of oneofMembers('fanout.v1.ClientFrame', 'frame')) {
      const field = memberType('fanout.v1.ClientFrame', member).field?.[0];
      assert.deepEqual(
        [field?.name, field?.number, field?.type],
        ['request_id', 1, 'TYPE_UINT32'],
        `${member} starts with request_id = 1`,
      );
    }
    for (const member of replies) {
      const field = memberType('fanout.v1.ServerFrame', member).field?.find(
        (candidate) => candidate.name === 'request_id',
      );
      assert.equal(field?.type, 'TYPE_UINT32', `${member} echoes the request_id`);
    }
  });
});

describe('IngestService definition for grpc-js', () => {
  const services = descriptorSet.file.flatMap((file) =>
    (file.service ?? []).map((service) => ({
      ...service,
      fullName: `${file.package}.${service.name}`,
    })),
  );
  const ingest = services.find((service) => service.fullName === 'fanout.v1.IngestService');

  it('has one method per RPC of the contract, with its path and streaming shape', () => {
    assert.ok(ingest);
    const definition: Record<
      string,
      (typeof IngestServiceDefinition)[keyof typeof IngestServiceDefinition]
    > = IngestServiceDefinition;
    assert.deepEqual(
      Object.keys(definition),
      ingest.method.map((method) => method.name.charAt(0).toLowerCase() + method.name.slice(1)),
    );
    for (const method of ingest.method) {
      const key = method.name.charAt(0).toLowerCase() + method.name.slice(1);
      const generatedMethod = definition[key];
      assert.ok(generatedMethod);
      assert.equal(generatedMethod.path, `/fanout.v1.IngestService/${method.name}`);
      assert.equal(generatedMethod.originalName, method.name);
      assert.equal(generatedMethod.requestStream, method.clientStreaming === true);
      assert.equal(generatedMethod.responseStream, method.serverStreaming === true);
    }
    assert.equal(IngestServiceDefinition.publish.path, '/fanout.v1.IngestService/Publish');
    assert.equal(IngestServiceDefinition.publish.requestStream, false);
    assert.equal(IngestServiceDefinition.publish.responseStream, false);
    assert.equal(
      IngestServiceDefinition.publishStream.path,
      '/fanout.v1.IngestService/PublishStream',
    );
    assert.equal(IngestServiceDefinition.publishStream.requestStream, true);
    assert.equal(IngestServiceDefinition.publishStream.responseStream, true);
  });

  it('serializes to Buffers and back with the generated codecs', () => {
    const { publish, publishStream } = IngestServiceDefinition;
    const bytes = publish.requestSerialize(
      PublishRequest.create({ events: [{ channel: 'a', data: new Uint8Array([1]) }] }),
    );
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal(publish.requestDeserialize(bytes).events[0]?.channel, 'a');
    const ack = publishStream.responseDeserialize(
      publishStream.responseSerialize(
        PublishStreamResponse.create({
          sequence: 7,
          error: { code: 'channel_invalid', message: 'm' },
        }),
      ),
    );
    assert.equal(ack.outcome, 'error');
    assert.equal(ack.sequence, 7);
    assert.equal(ack.error?.code, 'channel_invalid');
  });

  it('stays browser-safe: generated modules import only protobufjs/minimal and each other', () => {
    for (const file of ['fanout.js', 'int64-as-number.js', 'ingest-service.js']) {
      const source = readFileSync(new URL(file, generated), 'utf8');
      const imports = [...source.matchAll(/^import\s.*?['"]([^'"]+)['"];?$/gm)].map((m) => m[1]);
      for (const target of imports) {
        assert.ok(
          target === 'protobufjs/minimal.js' || target?.startsWith('./'),
          `${file} imports ${target}`,
        );
      }
    }
  });
});

describe('descriptor set', () => {
  it('holds one file per .proto, with its imports, as protoc would', () => {
    assert.deepEqual(descriptorSet.file.map((file) => file.name).sort(), [
      'fanout/v1/event.proto',
      'fanout/v1/ingest.proto',
      'fanout/v1/websocket.proto',
      'google/protobuf/timestamp.proto',
    ]);
    const ingestFile = descriptorSet.file.find((file) => file.name === 'fanout/v1/ingest.proto');
    assert.deepEqual(ingestFile?.dependency, ['fanout/v1/event.proto']);
    const headers = messageType('fanout.v1.Event').field?.find((field) => field.name === 'headers');
    assert.equal(headers?.type, 'TYPE_MESSAGE');
  });
});
