/**
 * Bounded waits on Kafka. A client asking for something the edge can only
 * answer once Kafka does (a partition's start, the topic layout, offsets, the
 * read head passing a position) waits at most `edge.kafkaWaitMs`, then gets
 * `kafka_unavailable` (HTTP 503 with Retry-After, WebSocket 4011, SSE
 * `disconnect`) instead of hanging for the whole outage.
 */
import { FanoutError } from '@fanout/shared';

/**
 * `work`, or `kafka_unavailable` after `timeoutMs`. The work itself goes on
 * (its result is dropped): callers release what it acquires.
 */
export function withKafkaDeadline<T>(
  work: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(kafkaUnavailable(what, timeoutMs));
    }, timeoutMs);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

export function kafkaUnavailable(what: string, waitedMs: number): FanoutError {
  return new FanoutError(
    'kafka_unavailable',
    `${what}: Kafka did not answer within ${waitedMs} ms; retry with backoff`,
    { details: { retryAfterMs: 1000 } },
  );
}
