/**
 * What the benchmark suite needs from a server's client protocol, so one
 * runner drives the fanout edge, the naive baseline and Centrifugo with the
 * same scenarios: counting connections (`open`) that subscribe and count
 * what arrives without decoding it, and decoding connections (`follow`)
 * that track one channel's sequence numbers and position for the storm.
 * Implementations: `fanout-client.ts` (`fanout.json.v1`) and
 * `centrifugo-client.ts` (Centrifugo's JSON protocol).
 */

export interface BenchClient {
  /** Resolves once the connection can subscribe (after the protocol's own handshake). */
  readonly ready: Promise<void>;
  /** Messages received since `ready`: events and answers to commands, never keep-alives. */
  readonly messages: number;
  /** The first error answer the server sent, if it sent one (where the protocol tells them apart cheaply). */
  readonly error: string | undefined;
  /** The connection is closed, by either side. */
  readonly closed: boolean;
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  /** Hands every later frame's payload to `callback` too (decoding costs: use on a sample). */
  sample(callback: (payload: Buffer) => void): void;
  close(): void;
}

export interface FollowHandlers {
  /**
   * The subscription is confirmed. `position` is where it starts (opaque,
   * handed back as `since` to resume); `resumed` is false when the client
   * asked to resume and the server answered that it could not.
   */
  subscribed(position: string | undefined, resumed: boolean | undefined): void;
  /**
   * One event of the channel: the sequence number in its data, its
   * position and the send time its data carries (wall-clock ms).
   */
  event(seq: number, position: string | undefined, sentAt: number | undefined): void;
}

export interface ClientProtocol {
  /** `fanout` or `centrifugo`: the latency sampler's worker picks the protocol by name. */
  readonly name: ProtocolName;
  /** A counting connection to `127.0.0.1:port`, from `localAddress` (127.0.0.x) when given. */
  open(port: number, localAddress?: string): BenchClient;
  /**
   * A decoding connection subscribed to one channel, resuming after `since`
   * (a position an earlier `follow` reported) when given.
   */
  follow(
    port: number,
    localAddress: string | undefined,
    channel: string,
    since: string | undefined,
    handlers: FollowHandlers,
  ): Promise<BenchClient>;
}

export type ProtocolName = 'fanout' | 'centrifugo';

/**
 * Every `"t":<ms>` send time in a payload (a frame may carry several
 * messages): the events' data is JSON in every protocol the suite speaks —
 * inside the JSON of `fanout.json.v1|v2` and of Centrifugo, as bytes of a
 * protobuf `bytes` field in `fanout.proto.v1|v2` — so one scan of the raw
 * payload finds them all, batch frames' events one by one.
 */
export function sendTimes(payload: Buffer): number[] {
  const times: number[] = [];
  const text = payload.toString('latin1');
  for (const match of text.matchAll(/"t":([\d.]+)/g)) times.push(Number(match[1]));
  return times;
}
