/**
 * The long-poll transport (`GET /v1/channels/{channel}?after=&wait=`): the
 * last resort where neither WebSocket nor a streamed answer gets through.
 * One request loop per channel; each answer carries the position to ask
 * after next. Without a starting position, the first request reads where
 * the channel stands and delivery starts after it (live from now, as on the
 * other transports); with `rewind` it asks for the channel's last N events
 * (`rewind=N`) and delivers them first. Patterns cannot be long-polled: such a subscription
 * fails with `invalid_argument`. Event types are filtered here, since the
 * route has no `types` parameter. A state subscription long-polls
 * `GET /v1/state/{channel}`: a snapshot, then `since=<position>&wait=` for
 * the patches after it (or a snapshot marked `reset`). Refused changes are
 * not reported on this route.
 */
import { FanoutError, isChannelPattern, isJsonObject } from '@fanout/shared/portable-core';
import { eventFromJson } from './fanout-event.js';
import { errorFromResponse } from './http-error.js';
import { edgeUrl, HttpConnection, type HttpTransportOptions } from './http-connection.js';
import { patchesFromJson, snapshotFromJson } from './state-frames.js';
import type { Transport, TransportContext, TransportSubscription } from './transport.js';

export interface LongPollTransportOptions extends HttpTransportOptions {
  /** Seconds each request waits for a new event (the edge caps it at `edge.longPollMaxSeconds`). */
  readonly waitSeconds: number;
}

/** Reads the flag through a call, so it is not narrowed across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

interface ChannelPage {
  readonly events: unknown[];
  readonly position: string;
}

/** Answers that say the position cannot be served: the application refetches state. */
const resetCodes: ReadonlySet<string> = new Set([
  'position_too_old',
  'position_epoch_mismatch',
  'position_partition_mismatch',
  'position_ahead',
]);

class LongPollConnection extends HttpConnection {
  readonly #options: LongPollTransportOptions;

  constructor(context: TransportContext, options: LongPollTransportOptions) {
    super(context);
    this.#options = options;
  }

  protected override refusal(subscription: TransportSubscription): FanoutError | undefined {
    if (!isChannelPattern(subscription.channel)) return undefined;
    return new FanoutError(
      'invalid_argument',
      `pattern ${subscription.channel} needs WebSocket or SSE; long-poll reads one channel`,
    );
  }

  async #request(
    channel: string,
    query: Record<string, string>,
    signal: AbortSignal,
    waitSeconds: number,
  ): Promise<ChannelPage | FanoutError> {
    const headers = this.headers('application/json');
    const timeout = new AbortController();
    const onAbort = (): void => {
      timeout.abort();
    };
    signal.addEventListener('abort', onAbort);
    const timer = setTimeout(
      () => {
        timeout.abort();
      },
      this.#options.connectTimeoutMs + waitSeconds * 1000,
    );
    try {
      const response = await this.#options.fetch(
        edgeUrl(this.context.edge, `/v1/channels/${encodeURIComponent(channel)}`, query),
        { headers, signal: timeout.signal },
      );
      if (!response.ok) return await errorFromResponse(response);
      const body = (await response.json()) as Partial<ChannelPage>;
      if (!Array.isArray(body.events) || typeof body.position !== 'string') {
        return new FanoutError('unavailable', 'the long-poll answer is not a channel page', {
          details: { catalogBody: false },
        });
      }
      return { events: body.events, position: body.position };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One `GET /v1/state/{channel}`: its JSON body, or the error it answered with. */
  async #stateRequest(
    channel: string,
    query: Record<string, string>,
    signal: AbortSignal,
    waitSeconds: number,
  ): Promise<Record<string, unknown> | FanoutError> {
    const timeout = new AbortController();
    const onAbort = (): void => {
      timeout.abort();
    };
    signal.addEventListener('abort', onAbort);
    const timer = setTimeout(
      () => {
        timeout.abort();
      },
      this.#options.connectTimeoutMs + waitSeconds * 1000,
    );
    try {
      const response = await this.#options.fetch(
        edgeUrl(this.context.edge, `/v1/state/${encodeURIComponent(channel)}`, query),
        { headers: this.headers('application/json'), signal: timeout.signal },
      );
      if (!response.ok) return await errorFromResponse(response);
      const body: unknown = await response.json();
      if (!isJsonObject(body)) {
        return new FanoutError('unavailable', 'the state answer is not a JSON object', {
          details: { catalogBody: false },
        });
      }
      return body;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The loop of a state subscription: a snapshot (unless resuming), then the patches after each position. */
  async #runState(subscription: TransportSubscription, signal: AbortSignal): Promise<void> {
    const { listener } = this.context;
    const { channel } = subscription;
    let position = subscription.since;
    let first = true;
    while (!signal.aborted) {
      const waitSeconds = position === undefined ? 0 : this.#options.waitSeconds;
      const query: Record<string, string> =
        position === undefined ? {} : { since: position, wait: String(waitSeconds) };
      const body = await this.#stateRequest(channel, query, signal, waitSeconds);
      if (isAborted(signal)) return;
      if (body instanceof FanoutError) {
        this.failed(channel, body);
        return;
      }
      this.opened();
      if (first) {
        first = false;
        listener.subscribed(channel, position);
      }
      if ('patches' in body) {
        const answer = patchesFromJson(body, channel);
        for (const patch of answer.patches) listener.statePatch({ ...patch, channel });
        position = answer.position;
      } else {
        const snapshot = { ...snapshotFromJson(body, channel), channel };
        listener.stateSnapshot(snapshot);
        position = snapshot.position;
      }
    }
  }

  protected override async run(
    subscription: TransportSubscription,
    abort: AbortController,
  ): Promise<void> {
    if (subscription.state !== undefined) {
      await this.#runState(subscription, abort.signal);
      return;
    }
    const { listener } = this.context;
    const { signal } = abort;
    const { channel } = subscription;
    const types = subscription.types === undefined ? undefined : new Set(subscription.types);
    let position = subscription.since;
    /** The first request gives the channel's last events (`rewind`), not only where it stands. */
    let rewind = position === undefined ? subscription.rewind : undefined;
    let first = true;
    while (!signal.aborted) {
      const waitSeconds = position === undefined ? 0 : this.#options.waitSeconds;
      const query: Record<string, string> =
        position === undefined
          ? rewind === undefined
            ? { limit: '1' }
            : { rewind: String(rewind) }
          : { after: position, wait: String(waitSeconds), limit: '1000' };
      const page = await this.#request(channel, query, signal, waitSeconds);
      if (isAborted(signal)) return;
      if (page instanceof FanoutError) {
        if (resetCodes.has(page.code)) {
          this.ended(channel);
          const earliest = page.details['earliest'];
          listener.reset({
            code: page.code,
            channel,
            requested: position ?? '',
            earliest: typeof earliest === 'string' ? earliest : '',
          });
        } else {
          this.failed(channel, page);
        }
        return;
      }
      this.opened();
      if (position === undefined && rewind === undefined) {
        // Where the channel stands now: deliver what comes after it.
        position = page.position;
      } else {
        rewind = undefined;
        for (const raw of page.events) {
          const event = eventFromJson(raw);
          if (types === undefined || types.size === 0 || types.has(event.type)) {
            listener.event(event, channel, event.position);
          }
        }
        position = page.position;
      }
      if (first) {
        first = false;
        listener.subscribed(channel, position);
      }
    }
  }
}

export function longPollTransport(options: LongPollTransportOptions): Transport {
  return { name: 'long-poll', connect: (context) => new LongPollConnection(context, options) };
}
