/**
 * Chooses and starts a Kafka environment:
 *
 * - `FANOUT_TEST_KAFKA=local` or `container` forces one;
 * - otherwise the container one when a Docker (or compatible) engine answers
 *   Testcontainers within a few seconds, the local one when not.
 */
import { ContainerKafkaEnvironment } from './container-kafka-environment.js';
import type { KafkaEnvironment, KafkaEnvironmentKind } from './kafka-environment.js';
import { LocalKafkaEnvironment } from './local-kafka-environment.js';

/** True when Testcontainers finds a working container engine within `timeoutMs`. */
export async function containerRuntimeAvailable(timeoutMs = 5000): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const probe = getContainerRuntimeClient().then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return false;
  }
}

export async function chooseKafkaEnvironmentKind(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KafkaEnvironmentKind> {
  const forced = env['FANOUT_TEST_KAFKA'];
  if (forced === 'local' || forced === 'container') return forced;
  if (forced !== undefined && forced !== '') {
    throw new Error(`FANOUT_TEST_KAFKA must be "local" or "container" (got "${forced}")`);
  }
  return (await containerRuntimeAvailable()) ? 'container' : 'local';
}

export async function startKafkaEnvironment(
  kind?: KafkaEnvironmentKind,
): Promise<KafkaEnvironment> {
  const chosen = kind ?? (await chooseKafkaEnvironmentKind());
  return chosen === 'container' ? ContainerKafkaEnvironment.start() : LocalKafkaEnvironment.start();
}
