/**
 * The suite's events as it writes them to Kafka, and the pacing of the
 * writes: shared by the runner (storm, cold start) and the producer process
 * of the steady scenarios (`bench-producer-process.ts`). Each event's data
 * is JSON with its send time `t` (wall-clock ms, three decimals), a sequence
 * number per channel `s` and padding; fanout's records are the protobuf
 * envelope its ingest writes (key = channel), Centrifugo's the data itself
 * with a header naming the channel. Every record's send time is kept (by
 * record) so a send can note the broker's append time of each event
 * (`latency-split.ts`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import { centrifugoRecord } from './centrifugo-target.js';
import { writtenSendTime } from './latency-split.js';

export interface KafkaRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly partition: number;
  readonly headers?: Record<string, string>;
}

export type RecordFormat = 'fanout' | 'centrifugo';

export class BenchRecords {
  /** The next sequence number of each channel. */
  readonly sequences = new Map<string, number>();
  /** Send time of each record built (as the event carries it). */
  readonly sendTimes = new WeakMap<KafkaRecord, number>();
  readonly #idPrefix: string;
  readonly #partitions: number;
  readonly #dataBytes: number;
  readonly #padding: string;
  #eventNumber = 0;

  constructor(options: {
    readonly idPrefix: string;
    readonly partitions: number;
    readonly dataBytes: number;
  }) {
    this.#idPrefix = options.idPrefix;
    this.#partitions = options.partitions;
    this.#dataBytes = options.dataBytes;
    this.#padding = 'x'.repeat(options.dataBytes);
  }

  /** The next event's data for `channel`: its send time, sequence number and padding (JSON). */
  eventData(channel: string): { data: Buffer; now: number } {
    const now = performance.timeOrigin + performance.now();
    const seq = this.sequences.get(channel) ?? 0;
    this.sequences.set(channel, seq + 1);
    const head = `{"t":${now.toFixed(3)},"s":${seq},"p":"`;
    return {
      data: Buffer.from(
        `${head}${this.#padding.slice(0, Math.max(0, this.#dataBytes - head.length - 2))}"}`,
      ),
      now,
    };
  }

  /** A record as fanout's ingest writes it: the protobuf envelope, key = channel. */
  fanout(channel: string): KafkaRecord {
    const { data, now } = this.eventData(channel);
    const value = encodeEvent({
      id: `${this.#idPrefix}${this.#eventNumber++}`,
      channel,
      type: 'bench',
      contentType: 'application/json',
      data,
      time: { seconds: Math.floor(now / 1000), nanos: Math.floor((now % 1000) * 1e6) },
      producer: 'bench',
    });
    const built = {
      key: channel,
      value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      partition: partitionForChannel(channel, this.#partitions),
    };
    this.sendTimes.set(built, writtenSendTime(now));
    return built;
  }

  /** A record as Centrifugo's Kafka consumer reads it (publication data mode). */
  centrifugo(channel: string): KafkaRecord {
    const { data, now } = this.eventData(channel);
    const built = centrifugoRecord(channel, data, partitionForChannel(channel, this.#partitions));
    this.sendTimes.set(built, writtenSendTime(now));
    return built;
  }

  of(format: RecordFormat, channel: string): KafkaRecord {
    return format === 'centrifugo' ? this.centrifugo(channel) : this.fanout(channel);
  }
}

/** Events sent at `sent` (their send times) were appended at `appended`, acknowledged at `acknowledged`. */
export interface AppendNote {
  readonly sent: readonly number[];
  readonly appended: number;
  readonly acknowledged: number;
}

/**
 * Sends `records` with `via` (acks=all) and notes each one's append time
 * (from the produce response, per partition) and acknowledgement time.
 */
export async function sendNoting(
  via: Producer,
  topic: string,
  records: readonly KafkaRecord[],
  sendTimes: WeakMap<KafkaRecord, number>,
  note: (appended: AppendNote) => void,
): Promise<void> {
  const metadata = await via.send({ topic, acks: -1, messages: [...records] });
  const acknowledged = performance.timeOrigin + performance.now();
  const appended = new Map(metadata.map((m) => [m.partition, Number(m.logAppendTime ?? -1)]));
  const byPartition = new Map<number, number[]>();
  for (const r of records) {
    const sent = sendTimes.get(r);
    if (sent === undefined) continue;
    const list = byPartition.get(r.partition) ?? [];
    list.push(sent);
    byPartition.set(r.partition, list);
  }
  for (const [partition, sent] of byPartition) {
    note({ sent, appended: appended.get(partition) ?? -1, acknowledged });
  }
}

/**
 * Publishes `rate` events/s over `channels` (round robin) with `send` for
 * `forSeconds` (or until `stopped()`), in 20 ms steps: `rate × forSeconds`
 * events in all, the ones a busy event loop made late included.
 */
export async function publishAtRate(
  send: (channels: readonly string[]) => Promise<void>,
  channels: readonly string[],
  rate: number,
  forSeconds: number,
  stopped: () => boolean = () => false,
): Promise<number> {
  const started = performance.now();
  const total = Math.floor(rate * forSeconds);
  let sent = 0;
  let turn = 0;
  while (sent < total && !stopped()) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    if (due > sent) {
      const batch = Array.from(
        { length: Math.min(due - sent, 5000) },
        () => channels[turn++ % channels.length] ?? '',
      );
      await send(batch);
      sent += batch.length;
    } else {
      await sleep(20);
    }
  }
  return sent;
}
