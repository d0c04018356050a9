/**
 * Waits until a broker answers a metadata request with a live broker and a
 * controller — the point from which topics can be created.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

export async function waitForBroker(brokers: readonly string[], timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'fanout-test-ready',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
    } catch (error) {
      lastError = error;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(
        `Kafka on ${brokers.join(',')} did not answer within ${timeoutMs} ms${reason}`,
      );
    }
    await sleep(200);
  }
}
