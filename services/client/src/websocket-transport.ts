/**
 * The WebSocket transport (`/v1/ws`): one socket carries every subscription.
 * Authenticates with a Connect frame (the token stays out of URLs and logs),
 * resumes channels (a position) and patterns (a stream cursor) with
 * `since`, refreshes tokens in-band, pings at the edge's interval and gives
 * up on a socket that stays silent for two of them.
 * State subscriptions (`client.state()`) made together go out in one
 * Subscribe, answered by one Subscribed frame carrying every snapshot.
 * Takes any WebSocket class with the standard browser API (`globalThis.WebSocket`,
 * or `ws` in Node.js 20).
 */
import {
  actionForCloseCode,
  errorCodeForCloseCode,
  FanoutError,
  isErrorCode,
  isFanoutError,
  type ErrorCode,
} from '@fanout/shared/portable-core';
import type {
  Transport,
  TransportClose,
  TransportConnection,
  TransportContext,
  TransportSubscription,
} from './transport.js';
import { fromPatchFrame, fromSnapshotFrame } from './state-frames.js';
import type { ClientMessage, ServerMessage, WireFormat } from './wire-format.js';

/** The part of the standard WebSocket API the client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols: string | string[]) => WebSocketLike;

export interface WebSocketTransportOptions {
  readonly webSocket: WebSocketConstructor;
  readonly wireFormat: WireFormat;
  /**
   * Offer the format's batch subprotocol first (the edge then sends the
   * events of one delivery in one frame); an edge that does not know it
   * answers with the plain one.
   */
  readonly batchFrames: boolean;
  /** Give up on a socket that has not said `connected` within this time. */
  readonly connectTimeoutMs: number;
}

/** `http(s)://host:port[/prefix]` → `ws(s)://host:port[/prefix]/v1/ws`. */
export function webSocketUrl(edge: string): string {
  const url = new URL(edge);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/ws`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

function closeError(code: number, reason: string): FanoutError {
  const catalog = errorCodeForCloseCode(code);
  const fromReason: ErrorCode | undefined = isErrorCode(reason) ? reason : undefined;
  return new FanoutError(
    catalog ?? fromReason ?? 'unavailable',
    `the WebSocket closed with ${code}${reason === '' ? '' : ` ${reason}`}`,
    { details: { closeCode: code } },
  );
}

const open = 1;

class WebSocketConnection implements TransportConnection {
  readonly #context: TransportContext;
  readonly #options: WebSocketTransportOptions;
  readonly #socket: WebSocketLike;
  #requestId = 0;
  #ready = false;
  #finished = false;
  #pending: TransportSubscription[] = [];
  /** Subscribe requests not answered yet, by request id. */
  readonly #requests = new Map<number, readonly TransportSubscription[]>();
  #disconnect: Extract<ServerMessage, { kind: 'disconnect' }> | undefined;
  #lastHeard = Date.now();
  #pinger: ReturnType<typeof setInterval> | undefined;
  readonly #connectTimer: ReturnType<typeof setTimeout>;

  constructor(context: TransportContext, options: WebSocketTransportOptions) {
    this.#context = context;
    this.#options = options;
    const { subprotocol, batchSubprotocol } = options.wireFormat;
    this.#socket = new options.webSocket(
      webSocketUrl(context.edge),
      options.batchFrames && batchSubprotocol !== undefined
        ? [batchSubprotocol, subprotocol]
        : subprotocol,
    );
    this.#socket.binaryType = 'arraybuffer';
    this.#connectTimer = setTimeout(() => {
      this.#finish({
        action: 'resume',
        error: new FanoutError('unavailable', 'the WebSocket did not connect in time'),
        neverOpened: true,
      });
    }, options.connectTimeoutMs);
    this.#socket.onopen = () => {
      const token = context.token();
      if (token !== undefined) this.#send({ kind: 'connect', requestId: this.#nextId(), token });
    };
    this.#socket.onmessage = (event) => {
      this.#lastHeard = Date.now();
      this.#receive(event.data);
    };
    this.#socket.onclose = (event) => {
      this.#closedBySocket(event.code, event.reason);
    };
    this.#socket.onerror = () => {
      // onclose follows with the code; nothing to add here.
    };
  }

  #nextId(): number {
    this.#requestId = (this.#requestId + 1) % 0xffffffff;
    return this.#requestId;
  }

  #send(message: ClientMessage): void {
    if (this.#finished || this.#socket.readyState !== open) return;
    this.#sendFrame(this.#options.wireFormat.encode(message));
  }

  #sendFrame(frame: string | Uint8Array): void {
    if (this.#finished || this.#socket.readyState !== open) return;
    this.#socket.send(frame);
  }

  subscribe(subscriptions: readonly TransportSubscription[]): void {
    if (!this.#ready) {
      this.#pending.push(...subscriptions);
      return;
    }
    const states = subscriptions.filter(
      (subscription) => subscription.state !== undefined && subscription.resource === undefined,
    );
    if (states.length > 0) this.#subscribeStates(states);
    // A resource each in its own frame: `subscribed` or `error` answers that one.
    for (const subscription of subscriptions) {
      if (subscription.resource !== undefined) this.#subscribeStates([subscription]);
    }
    // One frame per subscription: the edge refuses a frame as a whole, and
    // one refused channel must not take the others with it.
    for (const subscription of subscriptions) {
      if (subscription.state !== undefined || subscription.resource !== undefined) continue;
      const requestId = this.#nextId();
      this.#requests.set(requestId, [subscription]);
      this.#send({
        kind: 'subscribe',
        requestId,
        subscriptions: [
          {
            channel: subscription.channel,
            ...(subscription.since === undefined ? {} : { since: subscription.since }),
            ...(subscription.types === undefined ? {} : { types: subscription.types }),
            ...(subscription.rewind === undefined ? {} : { rewind: subscription.rewind }),
          },
        ],
      });
    }
  }

  /**
   * State subscriptions in one frame: one round trip for all their
   * snapshots. Refused as a whole, they are asked again one by one.
   */
  #subscribeStates(subscriptions: readonly TransportSubscription[]): void {
    const requestId = this.#nextId();
    this.#requests.set(requestId, subscriptions);
    this.#send({
      kind: 'subscribe',
      requestId,
      subscriptions: subscriptions.map((subscription) => ({
        // A resource is named by its URL: the edge computes (and leases) its channel.
        ...(subscription.resource === undefined
          ? { channel: subscription.channel }
          : { channel: '', resource: subscription.resource }),
        snapshot: true,
        delta: subscription.state?.delta ?? 'json-patch',
        ...(subscription.since === undefined ? {} : { since: subscription.since }),
      })),
    });
  }

  unsubscribe(channels: readonly string[]): void {
    this.#pending = this.#pending.filter((pending) => !channels.includes(pending.channel));
    if (this.#ready && channels.length > 0) {
      this.#send({ kind: 'unsubscribe', requestId: this.#nextId(), channels });
    }
  }

  refreshToken(token: string): void {
    if (this.#ready) this.#send({ kind: 'refreshToken', requestId: this.#nextId(), token });
  }

  close(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimers();
    this.#socket.close(1000, 'client closed');
  }

  #stopTimers(): void {
    clearTimeout(this.#connectTimer);
    if (this.#pinger !== undefined) clearInterval(this.#pinger);
  }

  #finish(close: TransportClose): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimers();
    try {
      this.#socket.close(close.action === 'stop' ? 1000 : 4000, close.error.code);
    } catch {
      // already closing
    }
    this.#context.listener.closed(close);
  }

  #closedBySocket(code: number, reason: string): void {
    const disconnect = this.#disconnect;
    if (disconnect) {
      const error = new FanoutError(
        isErrorCode(disconnect.code) ? disconnect.code : 'internal',
        disconnect.message,
        { details: { closeCode: disconnect.closeCode } },
      );
      this.#finish({
        action: disconnect.action,
        error,
        neverOpened: !this.#ready,
        ...(disconnect.hint === undefined ? {} : { hint: disconnect.hint }),
      });
      return;
    }
    this.#finish({
      action: actionForCloseCode(code),
      error: closeError(code, reason),
      neverOpened: !this.#ready,
    });
  }

  #receive(data: unknown): void {
    let message: ServerMessage;
    const listener = this.#context.listener;
    try {
      const frame =
        typeof data === 'string'
          ? data
          : data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : ArrayBuffer.isView(data)
              ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
              : String(data);
      message = this.#options.wireFormat.decode(frame);
    } catch (error) {
      // A frame we cannot read may have been an event: going on would skip it.
      this.#finish({
        action: 'resume',
        error: isFanoutError(error) ? error : new FanoutError('frame_invalid', String(error)),
        neverOpened: !this.#ready,
      });
      return;
    }
    switch (message.kind) {
      case 'event':
        listener.event(message.event);
        return;
      case 'batch':
        // In order, as frames of one event each would have come.
        for (const event of message.events) listener.event(event);
        return;
      case 'connected': {
        this.#ready = true;
        clearTimeout(this.#connectTimer);
        this.#startPinging(message.pingIntervalSeconds);
        listener.opened({
          edgeId: message.edgeId,
          ...(message.tokenExpiresAt === undefined
            ? {}
            : { tokenExpiresAt: message.tokenExpiresAt }),
        });
        const pending = this.#pending;
        this.#pending = [];
        this.subscribe(pending);
        return;
      }
      case 'subscribed': {
        const request = this.#requests.get(message.requestId);
        this.#requests.delete(message.requestId);
        // A resource's channel first: its snapshot and patches name it.
        const resource = request?.length === 1 ? request[0]?.resource : undefined;
        for (const state of message.subscriptions) {
          if (resource !== undefined && state.resource !== undefined) {
            listener.resourceSubscribed(resource, state.channel, state.statusChannel ?? '');
          }
        }
        // Each state subscription's snapshot, then the subscriptions: their patches follow.
        for (const state of message.subscriptions) {
          if (state.snapshot !== undefined) {
            listener.stateSnapshot(fromSnapshotFrame(state.snapshot, state.channel));
          }
        }
        for (const state of message.subscriptions)
          // A pattern's place is its stream cursor.
          listener.subscribed(state.channel, state.position ?? state.cursor, state.hint);
        return;
      }
      case 'reset':
        this.#requests.delete(message.requestId);
        listener.reset({
          code: message.code,
          channel: message.channel,
          requested: message.requested,
          earliest: message.earliest,
        });
        return;
      case 'error': {
        const error = new FanoutError(
          isErrorCode(message.code) ? message.code : 'internal',
          message.message,
        );
        const request = this.#requests.get(message.requestId);
        this.#requests.delete(message.requestId);
        if (request && error.code === 'rate_limited') {
          // The subscribe budget refills: ask again shortly.
          setTimeout(() => {
            this.subscribe(request);
          }, 1000);
        } else if (request?.length === 1 && request[0]?.resource !== undefined) {
          // The edge names the resource's channel, which this client may not know yet.
          listener.failed(message.channel ?? '', error, request[0].resource);
        } else if (request !== undefined && request.length > 1) {
          // Several state subscriptions refused together: one at a time, so
          // only the one at fault fails.
          for (const subscription of request) this.#subscribeStates([subscription]);
        } else if (request || message.channel !== undefined) {
          listener.failed(message.channel ?? request?.[0]?.channel ?? '', error);
        } else if (error.code === 'unauthenticated' || error.code === 'permission_denied') {
          this.#finish({ action: 'stop', error, neverOpened: !this.#ready });
        }
        // Other connection-level errors (a refused ping, a bad frame) leave it open.
        return;
      }
      case 'disconnect':
        this.#disconnect = message;
        return;
      case 'snapshot':
        listener.stateSnapshot(fromSnapshotFrame(message));
        return;
      case 'patch':
        listener.statePatch(fromPatchFrame(message));
        return;
      case 'stateChangeRefused':
        listener.stateRefused({
          channel: message.channel,
          position: message.position,
          reason: message.reason,
          message: message.message,
        });
        return;
      case 'pong':
      case 'unsubscribed':
      case 'tokenRefreshed':
        return;
    }
  }

  #startPinging(intervalSeconds: number): void {
    if (intervalSeconds <= 0) return;
    const intervalMs = intervalSeconds * 1000;
    this.#pinger = setInterval(() => {
      if (Date.now() - this.#lastHeard > intervalMs * 2) {
        this.#finish({
          action: 'resume',
          error: new FanoutError('unavailable', 'the edge stopped answering pings'),
          neverOpened: false,
        });
        return;
      }
      this.#send({ kind: 'ping', requestId: this.#nextId() });
    }, intervalMs);
  }
}

export function webSocketTransport(options: WebSocketTransportOptions): Transport {
  return {
    name: 'websocket',
    connect: (context) => new WebSocketConnection(context, options),
  };
}
