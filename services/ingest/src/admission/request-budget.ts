/**
 * The memory budget of publish requests: estimated bytes of the requests
 * being read, decoded or waiting for Kafka, for the whole process and for
 * each connection. A request takes its share before its body is read (what
 * its size announces) and grows it as it learns more (events, JSON tokens);
 * what does not fit is refused with `rate_limited`, so a flood of large
 * calls is answered with RESOURCE_EXHAUSTED / HTTP 429 and never grows the
 * heap past the budget. A request that alone needs more than a connection
 * may hold can never fit and gets `event_too_large`.
 *
 * Weights (estimates of what the ingest holds per byte received):
 * a gRPC message counts 2 per byte (the message and the records made of it)
 * plus `grpcEventBytes` per event; an HTTP body 3 per byte (the body, its
 * text and the records) plus `jsonTokenBytes` per JSON token.
 */
import { FanoutError } from '@fanout/shared';

export const grpcBytesPerByte = 2;
export const grpcEventBytes = 512;
export const httpBytesPerByte = 3;
export const jsonTokenBytes = 32;
/** How long a refused caller is told to wait. */
const retryAfterMs = 200;

export interface RequestBudgetOptions {
  readonly maxBytes: number;
  readonly maxBytesPerConnection: number;
  /** Called with the process total whenever it changes (a gauge). */
  readonly onChange?: (bytes: number) => void;
}

/** One request's (or stream's) share of the budget. */
export interface Reservation {
  /** Estimated bytes this reservation holds. */
  readonly bytes: number;
  /** Takes `bytes` more; throws rate_limited or event_too_large when they do not fit. */
  grow(bytes: number): void;
  /** Gives `bytes` back (never more than held). */
  shrink(bytes: number): void;
  /** Gives everything back; later calls do nothing. */
  release(): void;
}

export class RequestBudget {
  private total = 0;
  private readonly byConnection = new Map<unknown, number>();

  constructor(private readonly options: RequestBudgetOptions) {}

  /** Estimated bytes held by the whole process. */
  get bytes(): number {
    return this.total;
  }

  /** Estimated bytes held by one connection. */
  bytesOf(connection: unknown): number {
    return this.byConnection.get(connection) ?? 0;
  }

  /** A reservation of `bytes` for a request on `connection` (any key naming the connection). */
  reserve(connection: unknown, bytes: number): Reservation {
    const reservation = new ConnectionReservation(this, connection);
    reservation.grow(bytes);
    return reservation;
  }

  /** @internal */
  take(connection: unknown, bytes: number, held: number): void {
    if (bytes <= 0) return;
    const { maxBytes, maxBytesPerConnection } = this.options;
    if (held + bytes > maxBytesPerConnection) {
      throw new FanoutError(
        'event_too_large',
        `the request needs about ${held + bytes} bytes of memory, more than one connection may hold (${maxBytesPerConnection})`,
        { details: { limit: maxBytesPerConnection } },
      );
    }
    const connectionBytes = this.bytesOf(connection);
    if (connectionBytes + bytes > maxBytesPerConnection) {
      throw new FanoutError(
        'rate_limited',
        `this connection has ${connectionBytes} bytes of requests pending (limit ${maxBytesPerConnection}); retry shortly`,
        { details: { retryAfterMs } },
      );
    }
    if (this.total + bytes > maxBytes) {
      throw new FanoutError(
        'rate_limited',
        `ingest has ${this.total} bytes of requests pending (limit ${maxBytes}); retry shortly`,
        { details: { retryAfterMs } },
      );
    }
    this.byConnection.set(connection, connectionBytes + bytes);
    this.total += bytes;
    this.options.onChange?.(this.total);
  }

  /** @internal */
  give(connection: unknown, bytes: number): void {
    if (bytes <= 0) return;
    const left = this.bytesOf(connection) - bytes;
    if (left > 0) this.byConnection.set(connection, left);
    else this.byConnection.delete(connection);
    this.total -= bytes;
    this.options.onChange?.(this.total);
  }
}

class ConnectionReservation implements Reservation {
  bytes = 0;

  constructor(
    private readonly budget: RequestBudget,
    private readonly connection: unknown,
  ) {}

  grow(bytes: number): void {
    this.budget.take(this.connection, bytes, this.bytes);
    if (bytes > 0) this.bytes += bytes;
  }

  shrink(bytes: number): void {
    const given = Math.min(Math.max(bytes, 0), this.bytes);
    this.bytes -= given;
    this.budget.give(this.connection, given);
  }

  release(): void {
    this.shrink(this.bytes);
  }
}

/**
 * The largest gRPC message or HTTP body accepted: what `maxBatchEvents`
 * events of `maxEventBytes` need (4/3 of an event for base64 in JSON, plus
 * 4 KiB per event), capped by `maxRequestBytes`.
 */
export function requestByteLimit(settings: {
  readonly maxEventBytes: number;
  readonly maxBatchEvents: number;
  readonly maxRequestBytes: number;
}): number {
  const perEvent = Math.ceil((settings.maxEventBytes * 4) / 3) + 4096;
  return Math.min(settings.maxRequestBytes, settings.maxBatchEvents * perEvent + 4096);
}
