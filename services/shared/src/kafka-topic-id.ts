/**
 * The epoch of a position is the Kafka topic ID: a UUID the broker assigns
 * when a topic is created, which changes when the topic is deleted and
 * created again. A position from an older incarnation of the topic therefore
 * never matches, and is answered with a reset instead of being misread.
 *
 * kafkajs speaks Metadata only up to v6, which predates topic IDs, so this
 * module sends one Metadata v12 request itself (flexible encoding, KIP-482)
 * over a short-lived connection, with TLS and SASL/PLAIN when configured.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { parseBrokerAddress, tlsServerNameOf } from './kafka-connection.js';

export interface TopicIdOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId?: string;
  readonly ssl?: boolean;
  readonly sasl?: {
    readonly mechanism: 'plain';
    readonly username: string;
    readonly password: string;
  };
  readonly timeoutMs?: number;
}

const apiMetadata = 3;
const apiSaslHandshake = 17;
const apiSaslAuthenticate = 36;
const unknownTopicOrPartition = 3;

class Writer {
  private readonly chunks: Buffer[] = [];
  int8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(value);
    this.chunks.push(b);
    return this;
  }
  int16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.chunks.push(b);
    return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.chunks.push(b);
    return this;
  }
  uvarint(value: number): this {
    const bytes: number[] = [];
    let v = value >>> 0;
    while (v >= 0x80) {
      bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    bytes.push(v);
    this.chunks.push(Buffer.from(bytes));
    return this;
  }
  /** Non-compact (int16 length) string. */
  string(value: string): this {
    const b = Buffer.from(value, 'utf8');
    return this.int16(b.length).raw(b);
  }
  compactString(value: string): this {
    const b = Buffer.from(value, 'utf8');
    return this.uvarint(b.length + 1).raw(b);
  }
  bytes(value: Buffer): this {
    return this.int32(value.length).raw(value);
  }
  raw(value: Buffer): this {
    this.chunks.push(value);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

class Reader {
  offset = 0;
  constructor(private readonly buffer: Buffer) {}
  int8(): number {
    const v = this.buffer.readInt8(this.offset);
    this.offset += 1;
    return v;
  }
  int16(): number {
    const v = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.buffer.readUInt8(this.offset++);
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }
  compactString(): string | null {
    const length = this.uvarint() - 1;
    if (length < 0) return null;
    const v = this.buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
  string(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const v = this.buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
  skip(bytes: number): void {
    this.offset += bytes;
  }
  uuid(): Buffer {
    const v = this.buffer.subarray(this.offset, this.offset + 16);
    this.offset += 16;
    return v;
  }
  taggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
}

/** A connection that sends one request at a time and reads its response. */
class KafkaWire {
  private buffered = Buffer.alloc(0);
  private waiting: ((frame: Buffer) => void) | undefined;
  private failure: Error | undefined;
  private correlation = 1;

  constructor(
    private readonly socket: Socket,
    private readonly clientId: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    socket.on('error', (error) => {
      this.failure = error;
    });
  }

  private deliver(): void {
    if (this.buffered.length < 4 || this.waiting === undefined) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting(frame);
  }

  async request(apiKey: number, version: number, flexible: boolean, body: Buffer): Promise<Reader> {
    if (this.failure) throw this.failure;
    const correlationId = this.correlation++;
    const header = new Writer()
      .int16(apiKey)
      .int16(version)
      .int32(correlationId)
      .string(this.clientId);
    if (flexible) header.uvarint(0);
    const payload = Buffer.concat([header.build(), body]);
    const frame = await new Promise<Buffer>((resolve, reject) => {
      this.waiting = resolve;
      this.socket.once('error', reject);
      this.socket.once('close', () => {
        reject(this.failure ?? new Error('connection closed by the broker'));
      });
      this.socket.write(new Writer().int32(payload.length).raw(payload).build());
      this.deliver();
    });
    const reader = new Reader(frame);
    if (reader.int32() !== correlationId) throw new Error('Kafka response out of order');
    if (flexible) reader.taggedFields();
    return reader;
  }
}

async function open(broker: string, ssl: boolean, timeoutMs: number): Promise<Socket> {
  const { host, port } = parseBrokerAddress(broker);
  const servername = tlsServerNameOf(host);
  return new Promise<Socket>((resolve, reject) => {
    const socket = ssl
      ? connectTls({ host, port, ...(servername === undefined ? {} : { servername }) }, () => {
          resolve(socket);
        })
      : connectTcp({ host, port }, () => {
          resolve(socket);
        });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`timed out talking to ${broker}`));
    });
    socket.once('error', reject);
  });
}

async function saslPlain(wire: KafkaWire, username: string, password: string): Promise<void> {
  const handshake = await wire.request(
    apiSaslHandshake,
    1,
    false,
    new Writer().string('PLAIN').build(),
  );
  const handshakeError = handshake.int16();
  if (handshakeError !== 0) throw new Error(`SASL PLAIN refused (error ${handshakeError})`);
  const token = Buffer.from(`\u0000${username}\u0000${password}`, 'utf8');
  const auth = await wire.request(apiSaslAuthenticate, 0, false, new Writer().bytes(token).build());
  const authError = auth.int16();
  if (authError !== 0) {
    throw new Error(`SASL authentication failed: ${auth.string() ?? `error ${authError}`}`);
  }
}

/** base64url of the 16-byte UUID: 22 characters, a valid epoch. */
export function topicIdToEpoch(uuid: Uint8Array): string {
  return Buffer.from(uuid).toString('base64url');
}

/**
 * Fetches the topic's ID from the first broker that answers. Resolves
 * `undefined` when the topic does not exist.
 */
export async function fetchTopicId(options: TopicIdOptions): Promise<string | undefined> {
  const errors: string[] = [];
  for (const broker of options.brokers) {
    let socket: Socket | undefined;
    try {
      socket = await open(broker, options.ssl ?? false, options.timeoutMs ?? 5000);
      const wire = new KafkaWire(socket, options.clientId ?? 'fanout');
      if (options.sasl) await saslPlain(wire, options.sasl.username, options.sasl.password);
      const body = new Writer()
        .uvarint(2) // one topic
        .raw(Buffer.alloc(16)) // topic_id: zero, look up by name
        .compactString(options.topic)
        .uvarint(0) // topic tagged fields
        .int8(0) // allow_auto_topic_creation
        .int8(0) // include_topic_authorized_operations
        .uvarint(0) // tagged fields
        .build();
      const reader = await wire.request(apiMetadata, 12, true, body);
      reader.int32(); // throttle_time_ms
      const brokers = reader.uvarint() - 1;
      for (let i = 0; i < brokers; i++) {
        reader.int32();
        reader.compactString();
        reader.int32();
        reader.compactString();
        reader.taggedFields();
      }
      reader.compactString(); // cluster_id
      reader.int32(); // controller_id
      const topics = reader.uvarint() - 1;
      for (let i = 0; i < topics; i++) {
        const errorCode = reader.int16();
        const name = reader.compactString();
        const id = reader.uuid();
        if (name !== options.topic) continue;
        if (errorCode === unknownTopicOrPartition) return undefined;
        if (errorCode !== 0) throw new Error(`Metadata error ${errorCode} for ${name}`);
        if (id.every((byte) => byte === 0)) throw new Error(`broker returned no topic id`);
        return topicIdToEpoch(id);
      }
      return undefined;
    } catch (error) {
      errors.push(`${broker}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      socket?.destroy();
    }
  }
  throw new Error(`cannot read the id of topic ${options.topic}: ${errors.join('; ')}`);
}
