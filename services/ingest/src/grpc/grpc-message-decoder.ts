/**
 * The gRPC length-prefixed message reader of the ingest's calls, in place
 * of grpc-js's own: it reads each message's 5-byte prefix (compressed flag,
 * length) and asks `admit` whether a message of that size may be read
 * before it holds any of its bytes. A message over the size limit, or one
 * the request budget cannot take, ends the call with its error instead of
 * being buffered; each admitted message is read into one buffer of its size.
 *
 * It replaces the `decoder` of grpc-js's server call, which is not public
 * API; `installMessageDecoder` answers false when that changes (and
 * grpc-message-decoder.test.ts fails), and the caller then admits messages
 * only once grpc-js has read them, within its `grpc.max_receive_message_length`.
 */
import { FanoutError, toFanoutError } from '@fanout/shared';

const prefixBytes = 5;

export interface MessageDecoderOptions {
  /** Largest message, in bytes (without the prefix). */
  readonly maxMessageBytes: number;
  /** Called when a message's prefix arrived; throws a FanoutError to refuse it. */
  readonly admit: (messageBytes: number, compressed: boolean) => void;
  /** Called once when a message is refused; nothing more is read after it. */
  readonly refuse: (error: FanoutError) => void;
  /** Called when an admitted message has been read whole. */
  readonly read?: () => void;
}

export class AdmittingMessageDecoder {
  private readonly prefix = Buffer.alloc(prefixBytes);
  private prefixRead = 0;
  private message: Buffer | undefined;
  private messageRead = 0;
  private refused = false;

  constructor(private readonly options: MessageDecoderOptions) {}

  /** Takes the next bytes of the call; answers the messages they complete (each with its prefix). */
  write(data: Buffer): Buffer[] {
    const complete: Buffer[] = [];
    let at = 0;
    while (at < data.length && !this.refused) {
      const message = this.message;
      if (message === undefined) {
        const count = Math.min(prefixBytes - this.prefixRead, data.length - at);
        data.copy(this.prefix, this.prefixRead, at, at + count);
        this.prefixRead += count;
        at += count;
        if (this.prefixRead < prefixBytes) break;
        this.prefixRead = 0;
        const size = this.prefix.readUInt32BE(1);
        try {
          if (size > this.options.maxMessageBytes) {
            throw new FanoutError(
              'event_too_large',
              `the message is ${size} bytes, larger than ${this.options.maxMessageBytes}`,
              { details: { limit: this.options.maxMessageBytes } },
            );
          }
          this.options.admit(size, this.prefix[0] !== 0);
        } catch (error) {
          this.refused = true;
          this.options.refuse(toFanoutError(error));
          return [];
        }
        const next = Buffer.allocUnsafe(prefixBytes + size);
        this.prefix.copy(next, 0);
        if (size === 0) {
          complete.push(next);
          this.options.read?.();
        } else {
          this.message = next;
          this.messageRead = prefixBytes;
        }
      } else {
        const count = Math.min(message.length - this.messageRead, data.length - at);
        data.copy(message, this.messageRead, at, at + count);
        this.messageRead += count;
        at += count;
        if (this.messageRead === message.length) {
          complete.push(message);
          this.message = undefined;
          this.options.read?.();
        }
      }
    }
    return this.refused ? [] : complete;
  }
}

/**
 * Puts `decoder` in place of the message reader of grpc-js's server call
 * `call` (the call an interceptor is given first). Must run before the call
 * reads its first bytes, i.e. in the interceptor. False when grpc-js's call
 * does not have the expected reader.
 */
export function installMessageDecoder(call: object, decoder: AdmittingMessageDecoder): boolean {
  const current: unknown = Reflect.get(call, 'decoder');
  if (
    typeof current !== 'object' ||
    current === null ||
    typeof (current as { write?: unknown }).write !== 'function' ||
    typeof Reflect.get(call, 'handleDataFrame') !== 'function'
  ) {
    return false;
  }
  return Reflect.set(call, 'decoder', decoder);
}
