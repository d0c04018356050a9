/**
 * Steady producers for the cluster test: every `intervalMs`, each ingest
 * gets one gRPC Publish of `batch` events round-robin over the channels,
 * with ids unique to the run. Acknowledged events are kept with their
 * positions; failed publishes are counted (their events may still have been
 * written, which the checker allows: Kafka is the truth).
 */
import { formatPosition, positionFromProto } from '@fanout/shared';
import type { IngestClient } from './ingest-harness.js';

export interface AckedEvent {
  readonly channel: string;
  readonly id: string;
  readonly position: string;
}

export interface SteadyProducer {
  readonly acked: AckedEvent[];
  failures(): number;
  stop(): Promise<void>;
}

export function startSteadyProducer(options: {
  ingests: readonly IngestClient[];
  channels: readonly string[];
  batch: number;
  intervalMs: number;
}): SteadyProducer {
  const acked: AckedEvent[] = [];
  let failures = 0;
  let running = true;
  let next = 0;
  const loops = options.ingests.map(async (ingest, index) => {
    for (let round = 0; running; round++) {
      const began = Date.now();
      const events = Array.from({ length: options.batch }, (_, k) => {
        const channel = options.channels[(next + k) % options.channels.length] ?? '';
        return { channel, id: `i${index}-${round}-${k}`, type: 'tick', data: Buffer.from([k]) };
      });
      next += options.batch;
      try {
        const response = await ingest.publish({ events }, { deadlineMs: 5000 });
        response.results.forEach((result, k) => {
          const event = events[k];
          if (event === undefined) return;
          acked.push({
            channel: event.channel,
            id: event.id,
            position: formatPosition(positionFromProto(result.position ?? {})),
          });
        });
      } catch {
        failures++;
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, options.intervalMs - (Date.now() - began))),
      );
    }
  });
  return {
    acked,
    failures: () => failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
