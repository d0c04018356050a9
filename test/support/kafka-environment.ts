/**
 * One Kafka broker for tests, behind one interface with two implementations:
 *
 * - `LocalKafkaEnvironment` runs `deploy/kafka/local-kafka.mjs start`: a real
 *   Apache Kafka broker from its Maven Central jars, on 127.0.0.1.
 * - `ContainerKafkaEnvironment` uses Testcontainers' Kafka module (KRaft),
 *   for machines with a Docker engine.
 *
 * `startKafkaEnvironment()` chooses: `FANOUT_TEST_KAFKA=local|container`
 * forces one; otherwise the container is used when a Docker engine answers,
 * the local broker when not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type KafkaEnvironmentKind = 'local' | 'container';

export interface KafkaEnvironment {
  readonly kind: KafkaEnvironmentKind;
  /** Bootstrap servers, `host:port`. */
  readonly brokers: readonly string[];
  stop(): Promise<void>;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const localKafkaScript = join(repoRoot, 'deploy', 'kafka', 'local-kafka.mjs');

/** Image for the container implementation: Confluent Platform 8.1 is Apache Kafka 4.1 (KRaft). */
export const kafkaContainerImage = 'confluentinc/cp-kafka:8.1.0';

interface ReadyLine {
  readonly event: 'ready';
  readonly bootstrap: string;
  readonly pid: number;
  readonly port: number;
  readonly dataDir: string;
}

export interface LocalKafkaOptions {
  readonly port?: number;
  /** Reused when it already holds a formatted log (a restart keeps the data). */
  readonly dataDir?: string;
  /** Keep the data directory when stopping (to restart on it). */
  readonly keepData?: boolean;
  readonly timeoutMs?: number;
}

function isReadyLine(value: unknown): value is ReadyLine {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { event?: unknown }).event === 'ready' &&
    typeof (value as { bootstrap?: unknown }).bootstrap === 'string' &&
    typeof (value as { pid?: unknown }).pid === 'number'
  );
}

export class LocalKafkaEnvironment implements KafkaEnvironment {
  readonly kind = 'local';

  private constructor(
    readonly brokers: readonly string[],
    private readonly child: ChildProcess,
    /** The broker JVM's process id (for fault injection). */
    readonly pid: number,
    readonly port: number,
    readonly dataDir: string,
  ) {}

  static async start(options: LocalKafkaOptions = {}): Promise<LocalKafkaEnvironment> {
    const args = [localKafkaScript, 'start'];
    if (options.port !== undefined) args.push('--port', String(options.port));
    if (options.dataDir !== undefined) args.push('--data-dir', options.dataDir);
    if (options.keepData === true) args.push('--keep-data');
    // stdin stays a pipe: if this process dies, the script sees it close and stops the broker.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const timeoutMs = options.timeoutMs ?? 120_000;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    try {
      for await (const line of lines) {
        const parsed: unknown = JSON.parse(line);
        if (isReadyLine(parsed)) {
          child.stdout.resume();
          return new LocalKafkaEnvironment(
            [parsed.bootstrap],
            child,
            parsed.pid,
            parsed.port,
            parsed.dataDir,
          );
        }
      }
      throw new Error(`local Kafka exited before it was ready:\n${stderr}`);
    } finally {
      clearTimeout(timer);
      lines.close();
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

export class ContainerKafkaEnvironment implements KafkaEnvironment {
  readonly kind = 'container';

  private constructor(
    readonly brokers: readonly string[],
    private readonly container: { stop(): Promise<unknown> },
  ) {}

  static async start(): Promise<ContainerKafkaEnvironment> {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const container = await new KafkaContainer(kafkaContainerImage)
      .withKraft()
      .withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false' })
      .start();
    const broker = `${container.getHost()}:${container.getMappedPort(9093)}`;
    return new ContainerKafkaEnvironment([broker], container);
  }

  async stop(): Promise<void> {
    await this.container.stop();
  }
}

/** True when a Docker (or compatible) engine answers within a few seconds. */
export async function containerRuntimeAvailable(timeoutMs = 5000): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const probe = getContainerRuntimeClient().then(
      () => true,
      () => false,
    );
    const timeout = new Promise<boolean>((resolve) => {
      setTimeout(() => {
        resolve(false);
      }, timeoutMs).unref();
    });
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  }
}

export async function chooseKafkaEnvironmentKind(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KafkaEnvironmentKind> {
  const forced = env.FANOUT_TEST_KAFKA;
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
