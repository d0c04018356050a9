/**
 * What the runner (`client-processes.ts`) and its client processes
 * (`bench-client-process.ts`) say to each other over the IPC channel
 * (`serialization: 'advanced'`, so latencies travel as Float64Arrays).
 * Every request carries an id that its answer repeats.
 */
import type { ProtocolName } from './bench-client.js';

/** Subscribers by global index: `from` ≤ index < `below`. */
export interface IndexRange {
  readonly from: number;
  readonly below: number;
}

export type ClientRequest =
  | {
      readonly type: 'open';
      readonly port: number;
      readonly protocol: ProtocolName;
      /** Global indices of the subscribers this process holds (`shareOf`). */
      readonly indices: readonly number[];
      readonly sourceAddresses: readonly string[];
    }
  /** Subscribes every held subscriber with `from` ≤ index < `below` to `channels[index % channels.length]`. */
  | ({ readonly type: 'subscribe' } & IndexRange & { readonly channels: readonly string[] })
  | ({ readonly type: 'unsubscribe' } & IndexRange & { readonly channels: readonly string[] })
  /** Times the frames of these held subscribers (global indices) from now on, forgetting earlier ones. */
  | { readonly type: 'sample'; readonly indices: readonly number[] }
  /** Forgets what the sampled subscribers recorded so far. */
  | { readonly type: 'reset' }
  /** Stops timing; answers what was recorded since the last reset. */
  | { readonly type: 'take' }
  /** Answers the messages the held subscribers with `from` ≤ index < `below` received so far. */
  | ({ readonly type: 'count' } & IndexRange)
  | { readonly type: 'close' };

export type ClientRequestMessage = ClientRequest & { readonly id: number };

export type ClientAnswer =
  | { readonly type: 'done' }
  | { readonly type: 'count'; readonly messages: number }
  | { readonly type: 'timed'; readonly latencies: Float64Array; readonly sent: Float64Array }
  | { readonly type: 'failed'; readonly error: string };

export type ClientAnswerMessage = ClientAnswer & { readonly id: number };
