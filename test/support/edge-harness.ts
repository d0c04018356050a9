/**
 * An edge in the test process against the test broker, and a WebSocket
 * client that queues frames for assertions.
 */
import { createLogger, loadConfig, type FanoutConfig } from '@fanout/shared';
import { requireNativeUws, startEdgeApp, type EdgeApp } from '@fanout/edge';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { ensureTelemetry } from './ingest-harness.js';

export interface EdgeHarness {
  readonly app: EdgeApp;
  readonly config: FanoutConfig;
  readonly registry: Registry;
  readonly httpBase: string;
  readonly wsUrl: string;
  stop(drainMs?: number): Promise<void>;
}

export async function startEdge(options: {
  brokers: readonly string[];
  topic: string;
  env?: Readonly<Record<string, string>>;
}): Promise<EdgeHarness> {
  const config = loadConfig({
    env: {
      FANOUT_KAFKA_BROKERS: options.brokers.join(','),
      FANOUT_KAFKA_TOPIC: options.topic,
      FANOUT_EDGE_PORT: '0',
      FANOUT_EDGE_FETCH_MAX_WAIT_MS: '200',
      FANOUT_EDGE_SHUTDOWN_TIMEOUT_MS: '2000',
      FANOUT_LOG_LEVEL: process.env['FANOUT_TEST_LOG_LEVEL'] ?? 'silent',
      ...options.env,
    },
  });
  ensureTelemetry();
  const registry = new Registry();
  const logger = createLogger({ service: 'fanout-edge-test', level: config.log.level });
  const app = await startEdgeApp({ uws: requireNativeUws(), config, logger, registry });
  return {
    app,
    config,
    registry,
    httpBase: `http://127.0.0.1:${app.port}`,
    wsUrl: `ws://127.0.0.1:${app.port}/v1/ws`,
    stop: (drainMs = 0) => app.stop(drainMs),
  };
}

export interface WsFrame {
  readonly data: Buffer;
  readonly binary: boolean;
}

/** A WebSocket client whose received frames wait in a queue. */
export class TestSocket {
  readonly socket: WebSocket;
  readonly frames: WsFrame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly #waiters = new Set<() => void>();
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string, protocols: string | string[], headers: Record<string, string> = {}) {
    this.socket = new WebSocket(url, protocols, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => {
        resolve();
      });
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_request, response) => {
        reject(new Error(`HTTP ${response.statusCode}`));
      });
    });
    this.closed = new Promise((resolve) => {
      this.socket.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.#wake();
        resolve();
      });
    });
    this.socket.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ data, binary });
      this.#wake();
    });
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  sendJson(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Takes frames until `count` of them satisfied `accept`; returns those. */
  async take<T>(
    count: number,
    parse: (frame: WsFrame) => T | undefined,
    timeoutMs = 10_000,
  ): Promise<T[]> {
    const taken: T[] = [];
    const deadline = Date.now() + timeoutMs;
    while (taken.length < count) {
      const frame = this.frames.shift();
      if (frame) {
        const value = parse(frame);
        if (value !== undefined) taken.push(value);
        continue;
      }
      if (this.closeCode !== undefined) {
        throw new Error(`socket closed (${this.closeCode}) after ${taken.length} of ${count}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${taken.length} of ${count} frames`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
    return taken;
  }

  /** JSON frames of one kind (`event`, `subscribed`, ...), skipping others. */
  takeJson(kind: string, count = 1, timeoutMs?: number): Promise<Record<string, unknown>[]> {
    return this.take(
      count,
      (frame) => {
        const parsed = JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
        return kind in parsed ? (parsed[kind] as Record<string, unknown>) : undefined;
      },
      timeoutMs,
    );
  }

  close(): void {
    this.socket.close();
  }
}
