/**
 * Structured JSON logs on stdout (pino). One root logger per process, a child
 * per component: `logger.child({ component: 'kafka-producer' })`. Errors go
 * under `err` and keep their catalog code and details; credentials in common
 * places are redacted.
 */
import { pino, stdSerializers, type Logger } from 'pino';
import type { FanoutConfig } from './config-schema.js';
import { isFanoutError } from './fanout-error.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** `service` of every line, e.g. `fanout-ingest`. */
  readonly service: string;
  /** `version` of every line, when known. */
  readonly version?: string;
  readonly level?: FanoutConfig['log']['level'];
  /** Where lines go; stdout by default. Tests pass a stream to read them. */
  readonly destination?: NodeJS.WritableStream;
}

/** Paths whose values never reach a log line. */
const redactedPaths = [
  'password',
  'token',
  'authorization',
  '*.password',
  '*.token',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/** pino's error serializer, plus the catalog code and details of a FanoutError. */
export function serializeError(error: unknown): unknown {
  const base = error instanceof Error ? stdSerializers.err(error) : error;
  if (isFanoutError(error) && typeof base === 'object' && base !== null) {
    return { ...base, code: error.code, details: error.details };
  }
  return base;
}

export function createLogger(options: LoggerOptions): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service, ...(options.version ? { version: options.version } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError, error: serializeError },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  return options.destination === undefined
    ? pino(settings)
    : pino(settings, options.destination as pino.DestinationStream);
}
