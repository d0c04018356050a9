/**
 * The Server-Sent Events transport (`GET /v1/stream`): one stream per
 * subscription, read with `fetch` so that a token goes in the
 * `Authorization` header and errors before the stream keep their catalog
 * body (the browser's EventSource hides both). Each stream resumes with
 * `Last-Event-ID`: the cursor of the last event or `subscribed` message,
 * which covers every partition of a pattern. The edge's `reset` and
 * `disconnect` events end a stream; anything else that ends one ends the
 * connection, resumably. A state subscription reads
 * `GET /v1/state/{channel}?watch=true` instead: a `snapshot`, then `patch`
 * and `state_change_refused` events, resumed with `Last-Event-ID` (the
 * edge answers the patches after it, or a snapshot marked `reset`).
 */
import { FanoutError, isErrorCode } from '@fanout/shared/portable-core';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { eventFromJson } from './fanout-event.js';
import { errorFromResponse } from './http-error.js';
import { edgeUrl, HttpConnection, type HttpTransportOptions } from './http-connection.js';
import { patchFromJson, refusedFromJson, snapshotFromJson } from './state-frames.js';
import type { Transport, TransportContext, TransportSubscription } from './transport.js';

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

class SseConnection extends HttpConnection {
  readonly #options: HttpTransportOptions;

  constructor(context: TransportContext, options: HttpTransportOptions) {
    super(context);
    this.#options = options;
  }

  protected override async run(
    subscription: TransportSubscription,
    abort: AbortController,
  ): Promise<void> {
    const state = subscription.state !== undefined;
    const query: Record<string, string> = state
      ? { watch: 'true' }
      : { channels: subscription.channel };
    if (subscription.types !== undefined && subscription.types.length > 0) {
      query['types'] = subscription.types.join(',');
    }
    // A Last-Event-ID (the resume) wins over it at the edge.
    if (!state && subscription.rewind !== undefined) query['rewind'] = String(subscription.rewind);
    const headers = this.headers('text/event-stream');
    if (subscription.since !== undefined) headers['last-event-id'] = subscription.since;
    const path = state ? `/v1/state/${encodeURIComponent(subscription.channel)}` : '/v1/stream';
    const timer = setTimeout(() => {
      abort.abort();
      this.finish('resume', new FanoutError('unavailable', 'the SSE stream did not start in time'));
    }, this.#options.connectTimeoutMs);
    let response: Response;
    try {
      response = await this.#options.fetch(edgeUrl(this.context.edge, path, query), {
        headers,
        signal: abort.signal,
      });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      this.failed(subscription.channel, await errorFromResponse(response));
      return;
    }
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || response.body === null) {
      abort.abort();
      this.finish('resume', new FanoutError('unavailable', `the SSE answer is ${type || 'empty'}`));
      return;
    }
    this.opened();
    // A state stream has no `subscribed` event: it stands once answered.
    if (state) this.context.listener.subscribed(subscription.channel, subscription.since);
    const stream = { ended: false };
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (stream.ended || abort.signal.aborted) return;
        stream.ended = state
          ? this.#stateMessage(subscription.channel, message)
          : this.#message(subscription.channel, message);
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
      this.finish('resume', new FanoutError('unavailable', 'the SSE stream ended'));
    }
  }

  /** Handles one SSE message of a state stream; true when it ends the stream. */
  #stateMessage(channel: string, message: EventSourceMessage): boolean {
    const { listener } = this.context;
    switch (message.event) {
      case 'snapshot':
        listener.stateSnapshot({ ...snapshotFromJson(parseJson(message.data), channel), channel });
        return false;
      case 'patch':
        listener.statePatch({ ...patchFromJson(parseJson(message.data), channel), channel });
        return false;
      case 'state_change_refused':
        listener.stateRefused({ ...refusedFromJson(parseJson(message.data), channel), channel });
        return false;
      case 'disconnect':
        return this.#message(channel, message);
      default:
        return false;
    }
  }

  /** Handles one SSE message; true when it ends the stream. */
  #message(channel: string, message: EventSourceMessage): boolean {
    const { listener } = this.context;
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
        this.ended(channel);
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
        this.finish(
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
