/**
 * What the two HTTP transports, SSE and long-poll, share: a logical
 * connection that is one request loop per subscription. It counts as open
 * once the edge answered a request (or at once, with nothing to subscribe);
 * a loop that fails on the network ends the connection resumably; and a
 * failed answer ends either the connection (resume, resume elsewhere, or
 * stop) or only its own subscription. Each transport writes its loop
 * (`run`); the client decides where and when to reconnect.
 */
import { FanoutError, type CloseAction } from '@fanout/shared/portable-core';
import { endsConnection, networkError } from './http-error.js';
import type { TransportConnection, TransportContext, TransportSubscription } from './transport.js';

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

export abstract class HttpConnection implements TransportConnection {
  protected readonly context: TransportContext;
  readonly #loops = new Map<string, AbortController>();
  #opened = false;
  #finished = false;

  constructor(context: TransportContext) {
    this.context = context;
    // With nothing to subscribe yet there is nothing to ask the edge.
    queueMicrotask(() => {
      if (!this.#finished && this.#loops.size === 0) this.opened();
    });
  }

  /**
   * The request loop of one subscription, until it ends or `abort` fires
   * (unsubscribed, or the connection closed). A rejection ends the
   * connection as a network failure.
   */
  protected abstract run(
    subscription: TransportSubscription,
    abort: AbortController,
  ): Promise<void>;

  /** Why this transport cannot serve the subscription, if it cannot. */
  protected refusal?(subscription: TransportSubscription): FanoutError | undefined;

  subscribe(subscriptions: readonly TransportSubscription[]): void {
    for (const subscription of subscriptions) {
      if (this.#finished) continue;
      const { resource } = subscription;
      if (resource !== undefined) {
        queueMicrotask(() => {
          this.context.listener.failed(
            subscription.channel,
            new FanoutError(
              'invalid_argument',
              'a resource subscription needs the WebSocket transport',
            ),
            resource,
          );
        });
        continue;
      }
      if (this.#loops.has(subscription.channel)) continue;
      const refused = this.refusal?.(subscription);
      if (refused !== undefined) {
        queueMicrotask(() => {
          this.context.listener.failed(subscription.channel, refused);
        });
        continue;
      }
      const abort = new AbortController();
      this.#loops.set(subscription.channel, abort);
      this.run(subscription, abort).catch((error: unknown) => {
        if (abort.signal.aborted) return;
        this.finish('resume', networkError(error));
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
    // Every request reads the current token; an open SSE stream stays authorized.
  }

  close(): void {
    this.#finished = true;
    for (const abort of this.#loops.values()) abort.abort();
    this.#loops.clear();
  }

  /** The edge answered: the connection is open (once). */
  protected opened(): void {
    if (this.#opened) return;
    this.#opened = true;
    this.context.listener.opened({ edgeId: '' });
  }

  /** Ends the connection with a `closed` callback (once). */
  protected finish(action: CloseAction, error: FanoutError, hint?: string): void {
    if (this.#finished) return;
    const neverOpened = !this.#opened;
    this.close();
    this.context.listener.closed({
      action,
      error,
      neverOpened,
      ...(hint === undefined ? {} : { hint }),
    });
  }

  /** The subscription's loop ended for good (reset, or refused by the edge). */
  protected ended(channel: string): void {
    this.#loops.delete(channel);
  }

  /** Request headers: `accept`, and the current token. */
  protected headers(accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept };
    const token = this.context.token();
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    return headers;
  }

  /**
   * A failed answer to the subscription's request. Without the catalog body
   * (or a 404), something on the way does not pass the route: resume, and
   * the client may try another transport. An error of the whole client
   * stops the connection; one that stops only this subscription fails it;
   * any other resumes, where the edge's hint says when it names an owner.
   */
  protected failed(channel: string, error: FanoutError): void {
    if (error.details['catalogBody'] === false || error.code === 'not_found') {
      this.finish('resume', error);
    } else if (endsConnection(error)) {
      this.finish('stop', error);
    } else if (error.spec.action === 'stop') {
      this.ended(channel);
      this.context.listener.failed(channel, error);
    } else {
      const hint = error.details['hint'];
      this.finish(
        error.spec.action === 'resume_elsewhere' ? 'resume_elsewhere' : 'resume',
        error,
        typeof hint === 'string' ? hint : undefined,
      );
    }
  }
}
