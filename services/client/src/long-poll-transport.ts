/**
 * The long-poll transport (`GET /v1/channels/{channel}?after=&wait=`): the
 * last resort where neither WebSocket nor a streamed answer gets through.
 * One request loop per channel; each answer carries the position to ask
 * after next. Without a starting position, the first request reads where
 * the channel stands and delivery starts after it (live from now, as on the
 * other transports). Patterns cannot be long-polled: such a subscription
 * fails with `invalid_argument`. Event types are filtered here, since the
 * route has no `types` parameter.
 */
import { FanoutError, isChannelPattern, type CloseAction } from '@fanout/shared/portable-core';
import { eventFromJson } from './fanout-event.js';
import { endsConnection, errorFromResponse, networkError } from './http-error.js';
import { edgeUrl, type HttpTransportOptions } from './sse-transport.js';
import type {
  Transport,
  TransportConnection,
  TransportContext,
  TransportSubscription,
} from './transport.js';

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

class LongPollConnection implements TransportConnection {
  readonly #context: TransportContext;
  readonly #options: LongPollTransportOptions;
  readonly #loops = new Map<string, AbortController>();
  #opened = false;
  #finished = false;

  constructor(context: TransportContext, options: LongPollTransportOptions) {
    this.#context = context;
    this.#options = options;
    queueMicrotask(() => {
      if (!this.#finished && this.#loops.size === 0) this.#open();
    });
  }

  #open(): void {
    if (this.#opened) return;
    this.#opened = true;
    this.#context.listener.opened({ edgeId: '' });
  }

  subscribe(subscriptions: readonly TransportSubscription[]): void {
    for (const subscription of subscriptions) {
      if (this.#finished || this.#loops.has(subscription.channel)) continue;
      if (isChannelPattern(subscription.channel)) {
        queueMicrotask(() => {
          this.#context.listener.failed(
            subscription.channel,
            new FanoutError(
              'invalid_argument',
              `pattern ${subscription.channel} needs WebSocket or SSE; long-poll reads one channel`,
            ),
          );
        });
        continue;
      }
      const abort = new AbortController();
      this.#loops.set(subscription.channel, abort);
      this.#poll(subscription, abort.signal).catch((error: unknown) => {
        if (abort.signal.aborted) return;
        this.#finish('resume', networkError(error));
      });
    }
  }

  unsubscribe(channels: readonly string[]): void {
    for (const channel of channels) {
      this.#loops.get(channel)?.abort();
      this.#loops.delete(channel);
    }
  }

  refreshToken(): void {
    // Every request reads the current token.
  }

  close(): void {
    this.#finished = true;
    for (const abort of this.#loops.values()) abort.abort();
    this.#loops.clear();
  }

  #finish(action: CloseAction, error: FanoutError, hint?: string): void {
    if (this.#finished) return;
    const neverOpened = !this.#opened;
    this.close();
    this.#context.listener.closed({
      action,
      error,
      neverOpened,
      ...(hint === undefined ? {} : { hint }),
    });
  }

  async #request(
    channel: string,
    query: Record<string, string>,
    signal: AbortSignal,
    waitSeconds: number,
  ): Promise<ChannelPage | FanoutError> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.#context.token();
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
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
        edgeUrl(this.#context.edge, `/v1/channels/${encodeURIComponent(channel)}`, query),
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

  async #poll(subscription: TransportSubscription, signal: AbortSignal): Promise<void> {
    const { listener } = this.#context;
    const { channel } = subscription;
    const types = subscription.types === undefined ? undefined : new Set(subscription.types);
    let position = subscription.since;
    let first = true;
    while (!signal.aborted) {
      const waitSeconds = position === undefined ? 0 : this.#options.waitSeconds;
      const query: Record<string, string> =
        position === undefined
          ? { limit: '1' }
          : { after: position, wait: String(waitSeconds), limit: '1000' };
      const page = await this.#request(channel, query, signal, waitSeconds);
      if (isAborted(signal)) return;
      if (page instanceof FanoutError) {
        if (
          page.code === 'position_too_old' ||
          page.code === 'position_epoch_mismatch' ||
          page.code === 'position_partition_mismatch' ||
          page.code === 'position_ahead'
        ) {
          this.#loops.delete(channel);
          const earliest = page.details['earliest'];
          listener.reset({
            code: page.code,
            channel,
            requested: position ?? '',
            earliest: typeof earliest === 'string' ? earliest : '',
          });
        } else if (page.details['catalogBody'] === false || page.code === 'not_found') {
          this.#finish('resume', page);
        } else if (endsConnection(page)) {
          this.#finish('stop', page);
        } else if (page.spec.action === 'stop') {
          this.#loops.delete(channel);
          listener.failed(channel, page);
        } else {
          const hint = page.details['hint'];
          this.#finish(
            page.spec.action === 'resume_elsewhere' ? 'resume_elsewhere' : 'resume',
            page,
            typeof hint === 'string' ? hint : undefined,
          );
        }
        return;
      }
      this.#open();
      if (position === undefined) {
        // Where the channel stands now: deliver what comes after it.
        position = page.position;
      } else {
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
