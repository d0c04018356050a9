/**
 * The life of a service process, the same for the ingest, the edge and the
 * bridge: configuration, telemetry and the logger first, the metrics server
 * (with readiness) next, then the service itself. SIGTERM/SIGINT stop it
 * (readiness turns 503 `draining` at once); a second signal exits at once.
 * A service that fails to start is logged and exits 1.
 */
import type { Registry } from 'prom-client';
import type { FanoutConfig } from './config-schema.js';
import { loadConfigOrExit } from './config-loader.js';
import { createLogger, type Logger } from './logger.js';
import { startMetricsServer, type MetricsServer, type Readiness } from './metrics-server.js';
import { startTelemetry } from './telemetry.js';

/** What every service app offers its process. */
export interface ServiceApp {
  stop(): Promise<void>;
}

export interface ServiceMainOptions<App extends ServiceApp> {
  /** e.g. `fanout-ingest`; `telemetry.serviceName` overrides it. */
  readonly serviceName: string;
  /** The short name in log lines: `<name> ready`, `<name> failed to start`. */
  readonly name: string;
  readonly start: (context: {
    readonly config: FanoutConfig;
    readonly logger: Logger;
    readonly registry: Registry;
  }) => Promise<App>;
  /** Readiness of the started app (draining and starting are answered before). */
  readonly readiness: (app: App) => Readiness;
  /** Fields of the `<name> ready` log line. */
  readonly readyFields: (app: App, config: FanoutConfig, metrics: MetricsServer) => object;
  /** Fields of the log line of the first stop signal. */
  readonly stoppingFields?: (app: App | undefined) => object;
}

/** Runs a service until a signal stops it; never returns while it runs. */
export async function runServiceMain<App extends ServiceApp>(
  options: ServiceMainOptions<App>,
): Promise<void> {
  const config = loadConfigOrExit();
  const telemetry = startTelemetry({ serviceName: options.serviceName, config: config.telemetry });
  const logger = createLogger({ service: telemetry.serviceName, level: config.log.level });

  let app: App | undefined;
  let stopping = false;
  const metricsServer = await startMetricsServer({
    host: config.telemetry.metricsHost,
    port: config.telemetry.metricsPort,
    registry: telemetry.registry,
    readiness: () =>
      stopping
        ? { ready: false, reason: 'draining' }
        : app === undefined
          ? { ready: false, reason: 'starting' }
          : options.readiness(app),
  });

  async function shutdown(signal: string): Promise<void> {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, ...options.stoppingFields?.(app) }, 'shutting down');
    await app?.stop();
    await metricsServer.close();
    await telemetry.shutdown();
    logger.info('stopped');
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    app = await options.start({ config, logger, registry: telemetry.registry });
    logger.info(options.readyFields(app, config, metricsServer), `${options.name} ready`);
  } catch (error) {
    logger.fatal({ err: error }, `${options.name} failed to start`);
    await metricsServer.close();
    process.exit(1);
  }
}
