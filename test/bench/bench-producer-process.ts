/**
 * The producer of the suite's steady scenarios (broadcast, channels) in a
 * process of its own, forked by the runner (`producer-process.ts`), so its
 * kafkajs producer, pacing and send-time stamping share no event loop with
 * the clients that time the events: told to publish `rate` events/s over
 * some channels for some seconds, it writes them (acks=all, idempotent) and
 * answers how many it sent and the broker's append time of each
 * (`AppendNote`, from the produce responses). Exits when the runner goes away.
 */
import kafkajs, { type Producer } from 'kafkajs';
import { BenchRecords, publishAtRate, sendNoting, type AppendNote } from './bench-records.js';
import type { ProducerAnswerMessage, ProducerRequestMessage } from './producer-process.js';

let producer: Producer | undefined;
let records: BenchRecords | undefined;

function answer(message: ProducerAnswerMessage): void {
  if (process.connected) process.send?.(message, undefined, {}, () => undefined);
}

async function handle(request: ProducerRequestMessage): Promise<ProducerAnswerMessage> {
  switch (request.type) {
    case 'connect': {
      const kafka = new kafkajs.Kafka({
        clientId: 'fanout-bench-producer',
        brokers: [...request.brokers],
        logLevel: kafkajs.logLevel.NOTHING,
      });
      producer = kafka.producer({ idempotent: true });
      await producer.connect();
      records = new BenchRecords({
        idPrefix: 'p',
        partitions: request.partitions,
        dataBytes: request.dataBytes,
      });
      return { type: 'done', id: request.id };
    }
    case 'publish': {
      const via = producer;
      const made = records;
      if (via === undefined || made === undefined) throw new Error('not connected');
      const notes: AppendNote[] = [];
      const sent = await publishAtRate(
        (channels) =>
          sendNoting(
            via,
            request.topic,
            channels.map((channel) => made.of(request.format, channel)),
            made.sendTimes,
            (note) => notes.push(note),
          ),
        request.channels,
        request.rate,
        request.seconds,
      );
      return { type: 'published', id: request.id, sent, notes };
    }
    case 'close':
      await producer?.disconnect();
      producer = undefined;
      return { type: 'done', id: request.id };
  }
}

process.on('message', (request: ProducerRequestMessage) => {
  handle(request).then(answer, (error: unknown) => {
    answer({
      type: 'failed',
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    });
  });
});
process.on('disconnect', () => {
  void (producer?.disconnect() ?? Promise.resolve()).finally(() => process.exit(0));
});
