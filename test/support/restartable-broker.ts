/**
 * A broker of a test's own that it can kill and start again: the same port
 * and the same data directory, so what Kafka acknowledged before the kill
 * is there after it, as when a real broker restarts. `stop()` stops it and
 * removes the data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKafkaEnvironment } from './local-kafka-environment.js';

export class RestartableBroker {
  readonly #dataDir: string;
  readonly #port: number;
  #broker: LocalKafkaEnvironment | undefined;
  /** `host:port` of the broker, the same across restarts. */
  readonly brokers: readonly string[];

  private constructor(dataDir: string, broker: LocalKafkaEnvironment) {
    this.#dataDir = dataDir;
    this.#port = broker.port;
    this.#broker = broker;
    this.brokers = broker.brokers;
  }

  /** Starts a broker over a new data directory named after `name`. */
  static async start(name: string): Promise<RestartableBroker> {
    const dataDir = mkdtempSync(join(tmpdir(), `fanout-${name}-`));
    try {
      const broker = await LocalKafkaEnvironment.start({ dataDir, keepData: true });
      return new RestartableBroker(dataDir, broker);
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Kills the broker with SIGKILL, as a crash would, and waits until it is gone. */
  async kill(): Promise<void> {
    const broker = this.#broker;
    if (broker === undefined) return;
    this.#broker = undefined;
    process.kill(broker.pid, 'SIGKILL');
    await broker.stop();
  }

  /** Starts the broker again at the same port over the same data directory. */
  async restart(): Promise<void> {
    if (this.#broker !== undefined) throw new Error('the broker is running');
    this.#broker = await LocalKafkaEnvironment.start({
      port: this.#port,
      dataDir: this.#dataDir,
      keepData: true,
    });
  }

  /** Stops the broker if it runs and removes its data directory. */
  async stop(): Promise<void> {
    const broker = this.#broker;
    this.#broker = undefined;
    await broker?.stop();
    rmSync(this.#dataDir, { recursive: true, force: true });
  }
}
