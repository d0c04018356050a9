/**
 * The Server-Sent Events transport (`GET /v1/stream`): one stream per
 * subscription, read with `fetch` so that a token goes in the
 * `Authorization` header and errors before the stream keep their catalog
 * body (the browser's EventSource hides both). Each stream resumes with
 * `Last-Event-ID`: the cursor of the last event or `subscribed` message,
 * which covers every partition of a pattern. The edge's `reset` and
 * `disconnect` events end a stream; anything else that ends one ends the
 * connection, resumably.
 */
import { FanoutError, isErrorCode, type CloseAction } from '@fanout/shared/portable-core';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { eventFromJson } from './fanout-event.js';
import { endsConnection, errorFromResponse, networkError } from './http-error.js';
import type {
  Transport,
  TransportConnection,
  TransportContext,
  TransportSubscription,
} from './transport.js';

export interface HttpTransportOptions {
  readonly fetch: typeof fetch;
  /** Give up on a request whose answer has not started within this time. */
  readonly connectTimeoutMs: number;
}

export function edgeUrl(edge: string, path: string, query: Record<string, string>): string {
  const url = new URL(edge);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = new URLSearchParams(query).toString();
  url.hash = '';
  return url.toString();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new FanoutError('frame_invalid', 'an SSE message from the edge is not JSON');
  }
}

/** The `hint` of a `subscribed` message, if any (an opening that is not JSON has none). */
function hintOf(data: string): string | undefined {
  try {
    const body: unknown = JSON.parse(data);
    if (typeof body !== 'object' || body === null) return undefined;
    const hint = (body as Record<string, unknown>)['hint'];
    return typeof hint === 'string' && hint !== '' ? hint : undefined;
  } catch {
    return undefined;
  }
}

function field(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  return typeof value === 'string' ? value : '';
}

class SseConnection implements TransportConnection {
  readonly #context: TransportContext;
  readonly #options: HttpTransportOptions;
  readonly #streams = new Map<string, AbortController>();
  #opened = false;
  #finished = false;

  constructor(context: TransportContext, options: HttpTransportOptions) {
    this.#context = context;
    this.#options = options;
    // With nothing to subscribe yet there is nothing to ask the edge.
    queueMicrotask(() => {
      if (!this.#finished && this.#streams.size === 0) this.#open();
    });
  }

  #open(): void {
    if (this.#opened) return;
    this.#opened = true;
    this.#context.listener.opened({ edgeId: '' });
  }

  subscribe(subscriptions: readonly TransportSubscription[]): void {
    for (const subscription of subscriptions) {
      if (this.#finished || this.#streams.has(subscription.channel)) continue;
      const abort = new AbortController();
      this.#streams.set(subscription.channel, abort);
      this.#run(subscription, abort).catch((error: unknown) => {
        if (abort.signal.aborted) return;
        this.#finish('resume', networkError(error));
      });
    }
  }

  unsubscribe(channels: readonly string[]): void {
    for (const channel of channels) {
      this.#streams.get(channel)?.abort();
      this.#streams.delete(channel);
    }
  }

  refreshToken(): void {
    // Open streams stay authorized; the next stream reads the fresh token.
  }

  close(): void {
    this.#finished = true;
    for (const abort of this.#streams.values()) abort.abort();
    this.#streams.clear();
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

  async #run(subscription: TransportSubscription, abort: AbortController): Promise<void> {
    const { listener } = this.#context;
    const query: Record<string, string> = { channels: subscription.channel };
    if (subscription.types !== undefined && subscription.types.length > 0) {
      query['types'] = subscription.types.join(',');
    }
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    const token = this.#context.token();
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (subscription.since !== undefined) headers['last-event-id'] = subscription.since;
    const timer = setTimeout(() => {
      abort.abort();
      this.#finish(
        'resume',
        new FanoutError('unavailable', 'the SSE stream did not start in time'),
      );
    }, this.#options.connectTimeoutMs);
    let response: Response;
    try {
      response = await this.#options.fetch(edgeUrl(this.#context.edge, '/v1/stream', query), {
        headers,
        signal: abort.signal,
      });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (error.details['catalogBody'] === false || error.code === 'not_found') {
        // Not the edge answering: something on the way does not pass SSE.
        this.#finish('resume', error);
      } else if (endsConnection(error)) {
        this.#finish('stop', error);
      } else if (error.spec.action === 'stop') {
        this.#streams.delete(subscription.channel);
        listener.failed(subscription.channel, error);
      } else {
        const hint = error.details['hint'];
        this.#finish(
          error.spec.action === 'resume_elsewhere' ? 'resume_elsewhere' : 'resume',
          error,
          typeof hint === 'string' ? hint : undefined,
        );
      }
      return;
    }
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || response.body === null) {
      abort.abort();
      this.#finish(
        'resume',
        new FanoutError('unavailable', `the SSE answer is ${type || 'empty'}`),
      );
      return;
    }
    this.#open();
    const stream = { ended: false };
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (stream.ended) return;
        stream.ended = this.#message(subscription.channel, message);
      },
    });
    const decoder = new TextDecoder();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (stream.ended) break;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    if (!stream.ended && !abort.signal.aborted) {
      this.#finish('resume', new FanoutError('unavailable', 'the SSE stream ended'));
    }
  }

  /** Handles one SSE message; true when it ends the stream. */
  #message(channel: string, message: EventSourceMessage): boolean {
    const { listener } = this.#context;
    switch (message.event) {
      case undefined:
      case 'message':
        listener.event(eventFromJson(parseJson(message.data)), channel, message.id);
        return false;
      case 'subscribed': {
        listener.subscribed(channel, message.id, hintOf(message.data));
        return false;
      }
      case 'reset': {
        const body = parseJson(message.data) as Record<string, unknown>;
        this.#streams.delete(channel);
        listener.reset({
          code: field(body, 'code') || 'position_too_old',
          channel,
          requested: field(body, 'requested'),
          earliest: field(body, 'earliest'),
        });
        return true;
      }
      case 'disconnect': {
        const body = parseJson(message.data) as Record<string, unknown>;
        const code = field(body, 'code');
        const action = body['action'];
        const hint = body['hint'];
        this.#finish(
          action === 'stop' || action === 'resume_elsewhere' ? action : 'resume',
          new FanoutError(isErrorCode(code) ? code : 'internal', field(body, 'message')),
          typeof hint === 'string' ? hint : undefined,
        );
        return true;
      }
      default:
        return false;
    }
  }
}

export function sseTransport(options: HttpTransportOptions): Transport {
  return { name: 'sse', connect: (context) => new SseConnection(context, options) };
}
