/**
 * The independent checker of the cluster test: what every client received,
 * compared with what Kafka holds (read from the start of every partition
 * with a consumer of its own, not through any edge). Per client and
 * channel, from the position its first subscription started after:
 *
 * - nothing missing: every record of the channel after that position arrived;
 * - order: on one connection offsets only grow; a smaller or equal offset
 *   is allowed only as the repeat of an event already received, on a later
 *   connection (a duplicate across a reconnect), with the same id;
 * - every event received is the record at its position (same channel, same
 *   id), so duplicates are detectable by id.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEvent } from '@fanout/shared';
import type { Kafka } from 'kafkajs';
import type { ClusterClient } from './cluster-clients.js';
import type { AckedEvent } from './cluster-producer.js';
import { readTopic } from './test-kafka.js';

export interface KafkaChannelLog {
  /** Offsets of the channel's records, ascending (one partition). */
  readonly offsets: number[];
  readonly ids: string[];
}

export interface CheckReport {
  readonly kafkaRecords: number;
  readonly eventsChecked: number;
  readonly duplicatesAcrossReconnects: number;
  /** Problems, each one line; empty when everything holds. */
  readonly problems: string[];
}

/** Every record of `topic`, by channel. */
export async function readChannels(
  kafka: Kafka,
  topic: string,
): Promise<{ records: number; channels: Map<string, KafkaChannelLog> }> {
  const records = await readTopic(kafka, topic, 120_000);
  const channels = new Map<string, KafkaChannelLog>();
  for (const record of records) {
    const event = decodeEvent(record.value);
    let log = channels.get(event.channel);
    if (log === undefined) {
      log = { offsets: [], ids: [] };
      channels.set(event.channel, log);
    }
    log.offsets.push(record.offset);
    log.ids.push(event.id);
  }
  return { records: records.length, channels };
}

/**
 * Reads `topic` from Kafka, waits until every client has what Kafka holds
 * for its channels (or 120 s), stops the clients and checks them.
 */
export async function settleAndCheck(
  kafka: Kafka,
  topic: string,
  clients: readonly ClusterClient[],
  acked: readonly AckedEvent[],
): Promise<CheckReport> {
  const held = await readChannels(kafka, topic);
  const last = new Map(
    [...held.channels].map(([channel, log]) => [channel, log.offsets.at(-1) ?? -1]),
  );
  const caughtUp = (client: ClusterClient): boolean =>
    [...client.logs].every(
      ([channel, log]) => (log.offsets.at(-1) ?? log.start ?? -1) >= (last.get(channel) ?? -1),
    );
  const deadline = Date.now() + 120_000;
  while (!clients.every(caughtUp) && Date.now() < deadline) await sleep(500);
  for (const client of clients) client.stop();
  return checkClients(held, clients, acked);
}

const maxProblems = 50;

export function checkClients(
  kafka: { records: number; channels: Map<string, KafkaChannelLog> },
  clients: readonly ClusterClient[],
  acked: readonly AckedEvent[],
): CheckReport {
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < maxProblems) problems.push(text);
    else if (problems.length === maxProblems) problems.push('… more problems left out');
  };
  const idAt = new Map<string, Map<number, string>>();
  for (const [channel, log] of kafka.channels) {
    idAt.set(channel, new Map(log.offsets.map((offset, index) => [offset, log.ids[index] ?? ''])));
  }
  for (const event of acked) {
    const offset = Number(event.position.slice(event.position.lastIndexOf(':') + 1));
    if (idAt.get(event.channel)?.get(offset) !== event.id) {
      problem(`acknowledged ${event.id} at ${event.position} is not in Kafka there`);
    }
  }
  let eventsChecked = 0;
  let duplicates = 0;
  for (const client of clients) {
    for (const text of client.unexpected) problem(`${client.id}: unexpected ${text}`);
    for (const [channel, log] of client.logs) {
      const where = `${client.id} ${channel}`;
      if (log.start === undefined) {
        problem(`${where}: never subscribed`);
        continue;
      }
      const ids = idAt.get(channel) ?? new Map<number, string>();
      const seen = new Map<number, number>();
      let highest = log.start;
      let lastOnConnection = -Infinity;
      let connection = -1;
      for (let i = 0; i < log.offsets.length; i++) {
        const offset = log.offsets[i] ?? -1;
        const id = log.ids[i] ?? '';
        const on = log.connections[i] ?? -1;
        eventsChecked++;
        if (on !== connection) {
          connection = on;
          lastOnConnection = -Infinity;
        }
        if (ids.get(offset) !== id) {
          problem(`${where}: received ${id} at offset ${offset}, Kafka holds ${ids.get(offset)}`);
        }
        if (offset <= lastOnConnection) {
          problem(`${where}: offset ${offset} after ${lastOnConnection} on one connection`);
        }
        lastOnConnection = offset;
        if (offset > highest) {
          highest = offset;
          seen.set(offset, on);
        } else {
          const first = seen.get(offset);
          if (first === undefined) {
            problem(`${where}: offset ${offset} arrived out of order (after ${highest})`);
          } else if (first === on) {
            problem(`${where}: offset ${offset} twice on connection ${on}`);
          } else {
            duplicates++;
          }
        }
      }
      const expected = kafka.channels.get(channel)?.offsets ?? [];
      let missing = 0;
      let firstMissing = -1;
      for (const offset of expected) {
        if (offset > log.start && !seen.has(offset)) {
          if (missing === 0) firstMissing = offset;
          missing++;
        }
      }
      if (missing > 0) {
        problem(
          `${where}: ${missing} events missing after ${log.start} (first at offset ${firstMissing}; ` +
            `received ${seen.size}, connections ${client.connection}, on ${client.url})`,
        );
      }
    }
  }
  return {
    kafkaRecords: kafka.records,
    eventsChecked,
    duplicatesAcrossReconnects: duplicates,
    problems,
  };
}

/** Percentile (0-100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
