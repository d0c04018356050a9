/**
 * Whether the ingest serves, as its gRPC health service says
 * (`grpc.health.v1.Health/Check` of `fanout.v1.IngestService`, which the
 * ingest answers SERVING only while it can write to Kafka). The bridge asks
 * every bridge.ingestCheckIntervalMs on the channel it publishes through;
 * it counts as serving from the first SERVING answer until two checks in a
 * row fail (one lost answer does not stop a bridge).
 *
 * The two messages are one field each, so they are encoded here by hand
 * rather than generated: `HealthCheckRequest{string service = 1}` and
 * `HealthCheckResponse{ServingStatus status = 1}`.
 */
import type { Logger } from '@fanout/shared';

export const healthCheckPath = '/grpc.health.v1.Health/Check';
/** The service the ingest reports on. */
export const ingestServiceName = 'fanout.v1.IngestService';
/** `ServingStatus.SERVING`. */
export const servingStatus = 1;
/** Failed checks in a row after which the ingest counts as unavailable. */
export const failuresToUnavailable = 2;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return bytes;
}

/** Reads the varint at `at`; `[value, next offset]`, or undefined when cut short. */
function readVarint(bytes: Buffer, at: number): [number, number] | undefined {
  let value = 0;
  let shift = 0;
  for (let index = at; index < bytes.length && shift < 35; index++) {
    const byte = bytes[index] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, index + 1];
    shift += 7;
  }
  return undefined;
}

/** The value of field 1 if it is a varint (status) or bytes (service); else the default. */
function firstField(bytes: Buffer): number | Buffer | undefined {
  let at = 0;
  let found: number | Buffer | undefined;
  while (at < bytes.length) {
    const key = readVarint(bytes, at);
    if (key === undefined) throw new RangeError('a cut-short protobuf key');
    const [tag, afterKey] = key;
    const wire = tag & 7;
    if (wire === 0) {
      const value = readVarint(bytes, afterKey);
      if (value === undefined) throw new RangeError('a cut-short varint');
      if (tag >>> 3 === 1) found = value[0];
      at = value[1];
    } else if (wire === 2) {
      const length = readVarint(bytes, afterKey);
      if (length === undefined || length[1] + length[0] > bytes.length) {
        throw new RangeError('a cut-short length-delimited field');
      }
      if (tag >>> 3 === 1) found = bytes.subarray(length[1], length[1] + length[0]);
      at = length[1] + length[0];
    } else if (wire === 5) {
      at = afterKey + 4;
    } else if (wire === 1) {
      at = afterKey + 8;
    } else {
      throw new RangeError(`an unexpected protobuf wire type ${wire}`);
    }
  }
  return found;
}

export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  return service === ''
    ? Buffer.alloc(0)
    : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
}

export function decodeHealthCheckRequest(bytes: Buffer): string {
  const field = firstField(bytes);
  return Buffer.isBuffer(field) ? field.toString('utf8') : '';
}

export function encodeHealthCheckResponse(status: number): Buffer {
  return status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...varint(status)]);
}

/** The status of a HealthCheckResponse (0, UNKNOWN, when absent). */
export function decodeHealthCheckResponse(bytes: Buffer): number {
  const field = firstField(bytes);
  return typeof field === 'number' ? field : 0;
}

export interface IngestHealthOptions {
  /** One check: whether the ingest answered SERVING (never rejects). */
  readonly check: () => Promise<boolean>;
  readonly intervalMs: number;
  /** Told on every change, the first SERVING answer included. */
  readonly onChange: (serving: boolean) => void;
  readonly logger: Logger;
}

export class IngestHealth {
  readonly #options: IngestHealthOptions;
  #serving = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #checking: Promise<void> = Promise.resolve();

  constructor(options: IngestHealthOptions) {
    this.#options = options;
  }

  /** Whether the ingest serves (false until its first SERVING answer). */
  get serving(): boolean {
    return this.#serving;
  }

  /** Checks at once, then every intervalMs. */
  start(): void {
    const tick = (): void => {
      this.#checking = this.#checkOnce().finally(() => {
        if (this.#closed) return;
        this.#timer = setTimeout(tick, this.#options.intervalMs);
        this.#timer.unref();
      });
    };
    tick();
  }

  async #checkOnce(): Promise<void> {
    const serving = await this.#options.check();
    if (this.#closed) return;
    if (serving) {
      this.#failures = 0;
      if (!this.#serving) this.#set(true);
      return;
    }
    this.#failures += 1;
    if (this.#serving && this.#failures >= failuresToUnavailable) this.#set(false);
    else if (!this.#serving && this.#failures === 1) {
      this.#options.logger.warn('the ingest does not answer SERVING yet');
    }
  }

  #set(serving: boolean): void {
    this.#serving = serving;
    this.#options.logger[serving ? 'info' : 'warn'](
      serving
        ? 'the ingest serves; this bridge is ready'
        : 'the ingest is unavailable; this bridge is not ready and polls nothing',
    );
    this.#options.onChange(serving);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#checking;
  }
}
