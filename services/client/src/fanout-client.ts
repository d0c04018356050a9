/**
 * The client: one logical connection to an edge over the first transport
 * that gets through, carrying every subscription. On any disconnect it
 * reconnects with exponential backoff and full jitter, to the edge its
 * router names (or the one a `resume_elsewhere` close names), and resumes
 * each subscription from its position. Terminal closes (`stop`: bad
 * credentials, forbidden, bad request) end it with a typed FanoutError.
 * State channels (`state()`) ride the same connection; those asked for in
 * one tick go to the edge together (one Subscribe over WebSocket). An
 * on-demand live resource (`resource()`) is a state channel asked for by
 * its upstream URL, over WebSocket.
 */
import {
  FanoutError,
  isChannelPattern,
  isValidChannel,
  patternMatches,
  stateDeltaKinds,
  toFanoutError,
} from '@fanout/shared/portable-core';
import { AsyncQueue } from './async-queue.js';
import { Backoff } from './backoff.js';
import type { ClientStatus } from './client-status.js';
import { compileOptions, type ClientOptions, type CompiledOptions } from './client-options.js';
import type { FanoutEvent } from './fanout-event.js';
import { StateChannel, type StateOptions } from './state-channel.js';
import { Subscription, type SubscribeOptions } from './subscription.js';
import { TokenSource, type TokenReason } from './token-source.js';
import type {
  ResetInfo,
  Transport,
  TransportClose,
  TransportConnection,
  TransportListener,
  TransportSubscription,
} from './transport.js';

/** Failed opens in a row before the client leaves a transport that has worked before. */
const provenTransportPatience = 3;

export class FanoutClient {
  readonly #options: CompiledOptions;
  readonly #backoff: Backoff;
  readonly #tokens: TokenSource;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #states = new Map<string, StateChannel>();
  /**
   * Resources followed (`resource()`), by URL; each is in `#states` too
   * under its channel once an edge named it.
   */
  readonly #resources = new Map<string, StateChannel>();
  /** State channels to subscribe at the end of this tick, together. */
  #stateBatch: StateChannel[] = [];
  readonly #statusListeners = new Set<(status: ClientStatus) => void>();
  readonly #proven = new Set<Transport>();
  #status: ClientStatus = { state: 'disconnected', attempt: 0 };
  #transportIndex = 0;
  #failedOpens = 0;
  #connection: TransportConnection | undefined;
  #ready = false;
  #generation = 0;
  #everConnected = false;
  #openedAt: number | undefined;
  #tokenReason: TokenReason = 'connect';
  /** The connection (generation) and channels the router was last asked about a hint for. */
  #hintAsked = '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #started = false;
  #closed = false;

  constructor(options: ClientOptions) {
    this.#options = compileOptions(options);
    this.#backoff = new Backoff(this.#options.backoff, this.#options.random);
    this.#tokens = new TokenSource(this.#options.token, this.#options.tokenRefreshMarginMs);
  }

  get status(): ClientStatus {
    return this.#status;
  }

  /** Calls `listener` with every status change; returns the function that stops it. */
  onStatus(listener: (status: ClientStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** The current status, then every change, until the client closes. */
  statuses(): AsyncIterableIterator<ClientStatus> {
    const queue = new AsyncQueue<ClientStatus>(() => {
      stop();
    });
    queue.push(this.#status);
    const stop = this.onStatus((status) => {
      queue.push(status);
      if (status.state === 'closed') queue.end();
    });
    if (this.#status.state === 'closed') queue.end();
    return queue;
  }

  /** Connects now (subscribing connects too). */
  connect(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    void this.#connect();
  }

  /**
   * Subscribes to a channel (`orders.eu.1234`) or a pattern (`orders.eu.*`).
   * Throws FanoutError `channel_invalid` for a bad name and
   * `invalid_argument` for a second subscription to the same name.
   */
  subscribe(channel: string, options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new FanoutError('invalid_argument', 'the client is closed');
    if (!isValidChannel(channel) && !isChannelPattern(channel)) {
      throw new FanoutError('channel_invalid', `"${channel}" is not a channel or pattern`);
    }
    if (this.#subscriptions.has(channel) || this.#states.has(channel)) {
      throw new FanoutError('invalid_argument', `already subscribed to ${channel}`);
    }
    checkRewind(channel, options.rewind);
    const subscription = new Subscription(channel, options, this.#options.dedupeWindow, (ended) => {
      if (this.#subscriptions.get(ended.channel) !== ended) return;
      this.#subscriptions.delete(ended.channel);
      if (this.#ready) this.#connection?.unsubscribe([ended.channel]);
    });
    this.#subscriptions.set(channel, subscription);
    if (this.#ready) this.#subscribeOn([subscription]);
    this.connect();
    return subscription;
  }

  /**
   * Follows the JSON document of a state channel: `ready()` resolves with
   * its first snapshot, `value` stays current, and every update goes to
   * `onUpdate` and async iterators. Throws FanoutError `channel_invalid` for
   * a bad name (patterns included) and `invalid_argument` for a channel this
   * client already follows (as state or events) or an unknown `delta`.
   */
  state(channel: string, options: StateOptions = {}): StateChannel {
    if (this.#closed) throw new FanoutError('invalid_argument', 'the client is closed');
    if (!isValidChannel(channel)) {
      throw new FanoutError('channel_invalid', `"${channel}" is not a channel`);
    }
    if (this.#subscriptions.has(channel) || this.#states.has(channel)) {
      throw new FanoutError('invalid_argument', `already subscribed to ${channel}`);
    }
    checkDelta(options);
    const state = new StateChannel(
      channel,
      options,
      (gap) => {
        this.#refetch(gap);
      },
      (ended) => {
        if (this.#states.get(ended.channel) !== ended) return;
        this.#states.delete(ended.channel);
        if (this.#ready) this.#connection?.unsubscribe([ended.channel]);
      },
    );
    this.#states.set(channel, state);
    // Sent with the others of this tick; before a connection, with the connect.
    if (this.#connection !== undefined) this.#queueState(state);
    this.connect();
    return state;
  }

  /**
   * Follows an on-demand live resource (docs/guides/live-resources.md): the
   * JSON document a bridge polls from `url`, as the state object `state()`
   * returns. Over WebSocket only: the edge computes its channel (named in
   * `channel` and `statusChannel` once subscribed) and holds a lease of the
   * resource while it is followed; every reconnect asks for the resource
   * again, so the new edge holds one too. Throws FanoutError
   * `invalid_argument` for a URL that is not absolute http(s), carries a
   * user name or password, or is followed already; the edge's refusals
   * (`not_found`, `resource_limit`, `upstream_refused`, `unavailable`,
   * `permission_denied`) end it (`ready()` rejects, `onError`).
   */
  resource(url: string, options: StateOptions = {}): StateChannel {
    if (this.#closed) throw new FanoutError('invalid_argument', 'the client is closed');
    checkResourceUrl(url);
    if (this.#resources.has(url)) {
      throw new FanoutError('invalid_argument', `already following the resource ${url}`);
    }
    checkDelta(options);
    const state = new StateChannel(
      '',
      options,
      (gap) => {
        this.#refetch(gap);
      },
      (ended) => {
        if (this.#resources.get(url) !== ended) return;
        this.#resources.delete(url);
        if (ended.channel === '' || this.#states.get(ended.channel) !== ended) return;
        this.#states.delete(ended.channel);
        if (this.#ready) this.#connection?.unsubscribe([ended.channel]);
      },
      url,
    );
    this.#resources.set(url, state);
    if (this.#connection !== undefined) this.#queueState(state);
    this.connect();
    return state;
  }

  /** Whether `state` is still followed (a state channel, or a resource). */
  #follows(state: StateChannel): boolean {
    return state.resource === undefined
      ? this.#states.get(state.channel) === state
      : this.#resources.get(state.resource) === state;
  }

  /** Every state channel and resource followed. */
  #allStates(): StateChannel[] {
    return [...new Set([...this.#states.values(), ...this.#resources.values()])];
  }

  /** Several state channels, asked for together (one round trip over WebSocket). */
  states(channels: readonly string[], options: StateOptions = {}): StateChannel[] {
    return channels.map((channel) => this.state(channel, options));
  }

  /** Subscribes the state channels asked for in this tick together, at its end. */
  #queueState(state: StateChannel): void {
    this.#stateBatch.push(state);
    if (this.#stateBatch.length > 1) return;
    queueMicrotask(() => {
      const batch = this.#stateBatch.filter((queued) => this.#follows(queued));
      this.#stateBatch = [];
      if (batch.length > 0) this.#subscribeOn([], batch);
    });
  }

  /** A gap in a state channel: its subscription again, from a fresh snapshot. */
  #refetch(state: StateChannel): void {
    // Without a connection, the next one subscribes it from a fresh snapshot.
    if (this.#connection === undefined || !this.#follows(state)) return;
    if (state.channel !== '') this.#connection.unsubscribe([state.channel]);
    this.#queueState(state);
  }

  /** Closes the connection and ends every subscription; iterators finish. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimers();
    this.#options.router.close?.();
    this.#connection?.close();
    this.#connection = undefined;
    for (const subscription of [...this.#subscriptions.values()]) subscription.end();
    for (const state of this.#allStates()) state.end();
    this.#setStatus({ state: 'closed', attempt: 0 });
    this.#statusListeners.clear();
  }

  #stopTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    this.#timer = undefined;
    this.#refreshTimer = undefined;
  }

  #setStatus(status: ClientStatus): void {
    this.#status = Object.freeze(status);
    for (const listener of [...this.#statusListeners]) listener(this.#status);
  }

  get #transport(): Transport {
    const transport = this.#options.transports[this.#transportIndex];
    if (transport === undefined) throw new Error('no transport');
    return transport;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    this.#timer = undefined;
    const transport = this.#transport;
    const generation = ++this.#generation;
    this.#setStatus({
      state: this.#everConnected ? 'resuming' : 'connecting',
      transport: transport.name,
      attempt: this.#backoff.attempt,
    });
    let edge: string;
    try {
      edge = await this.#options.router.edgeFor(this.#channels());
      await this.#tokens.get(this.#tokenReason);
    } catch (error) {
      if (this.#stale(generation)) return;
      this.#retry(toFanoutError(error), this.#backoff.next(), transport.name);
      return;
    }
    if (this.#stale(generation)) return;
    this.#tokenReason = 'connect';
    this.#ready = false;
    this.#connection = transport.connect({
      edge,
      token: () => this.#tokens.current(),
      listener: this.#listener(generation, transport, edge),
    });
    this.#subscribeOn([...this.#subscriptions.values()], this.#allStates());
  }

  /** Every channel and pattern the client follows. */
  #channels(): string[] {
    return [...this.#subscriptions.keys(), ...this.#states.keys()];
  }

  /** True when a newer attempt started or the client closed while this one waited. */
  #stale(generation: number): boolean {
    return this.#closed || generation !== this.#generation;
  }

  #listener(generation: number, transport: Transport, edge: string): TransportListener {
    const current = (): boolean => generation === this.#generation && !this.#closed;
    return {
      opened: (info) => {
        if (!current()) return;
        this.#ready = true;
        this.#everConnected = true;
        this.#openedAt = Date.now();
        this.#proven.add(transport);
        this.#failedOpens = 0;
        this.#setStatus({
          state: 'connected',
          transport: transport.name,
          edge,
          ...(info.edgeId === '' ? {} : { edgeId: info.edgeId }),
          attempt: this.#backoff.attempt,
        });
        this.#armTokenRefresh();
      },
      subscribed: (channel, position, hint) => {
        if (!current()) return;
        this.#subscriptions.get(channel)?.confirmed(position);
        // A state channel stands once its snapshot or patches come.
        if (hint !== undefined) this.#hinted(generation, hint, edge);
      },
      event: (event, channel, cursor) => {
        if (current()) this.#deliver(event, channel, cursor);
      },
      reset: (reset) => {
        if (!current()) return;
        const state = this.#states.get(reset.channel);
        if (state === undefined) this.#reset(reset);
        else state.gap(`position ${reset.requested} cannot be served (${reset.code})`);
      },
      failed: (channel, error, resource) => {
        if (!current()) return;
        if (resource !== undefined) {
          this.#resources.get(resource)?.fail(error);
          return;
        }
        this.#subscriptions.get(channel)?.fail(error);
        this.#states.get(channel)?.fail(error);
      },
      resourceSubscribed: (resource, channel, statusChannel) => {
        if (!current()) return;
        const state = this.#resources.get(resource);
        if (state === undefined) return;
        // Another edge may name another channel (another channel prefix).
        if (state.channel !== channel && this.#states.get(state.channel) === state) {
          this.#states.delete(state.channel);
        }
        state.bind(channel, statusChannel);
        this.#states.set(channel, state);
      },
      stateSnapshot: (snapshot) => {
        if (current()) this.#states.get(snapshot.channel)?.snapshot(snapshot);
      },
      statePatch: (patch) => {
        if (current()) this.#states.get(patch.channel)?.patch(patch);
      },
      stateRefused: (refused) => {
        if (current()) this.#states.get(refused.channel)?.refused(refused);
      },
      closed: (close) => {
        if (current()) this.#closedConnection(close, transport, edge);
      },
    };
  }

  /** Subscribes on the current connection, each from its position (states from their document's). */
  #subscribeOn(subscriptions: readonly Subscription[], states: readonly StateChannel[] = []): void {
    const connection = this.#connection;
    if (connection === undefined) return;
    const requests: TransportSubscription[] = [];
    for (const subscription of subscriptions) {
      if (subscription.state === 'ended' || subscription.state === 'resetting') continue;
      // A pattern's position is a stream cursor (every partition), which
      // every transport resumes from.
      const since = subscription.position;
      requests.push({
        channel: subscription.channel,
        ...(since === undefined ? {} : { since }),
        ...(subscription.types === undefined ? {} : { types: subscription.types }),
        // Only while it has no position: a resume goes on from it.
        ...(since === undefined && subscription.rewind !== undefined
          ? { rewind: subscription.rewind }
          : {}),
      });
    }
    for (const state of states) {
      if (!state.live) continue;
      const since = state.resumeAfter;
      requests.push({
        channel: state.channel,
        ...(since === undefined ? {} : { since }),
        state: { delta: state.delta },
        // A resource is asked for by its URL, on every connection: each edge holds a lease.
        ...(state.resource === undefined ? {} : { resource: state.resource }),
      });
    }
    connection.subscribe(requests);
  }

  #deliver(event: FanoutEvent, channel: string | undefined, cursor: string | undefined): void {
    if (channel !== undefined) {
      this.#subscriptions.get(channel)?.deliver(event, cursor);
      return;
    }
    for (const subscription of this.#subscriptions.values()) {
      const pattern =
        isChannelPattern(subscription.channel) &&
        patternMatches(subscription.channel, event.channel);
      if (subscription.matches(event.channel, event.type, pattern)) subscription.deliver(event);
    }
  }

  #reset(reset: ResetInfo): void {
    const subscription = this.#subscriptions.get(reset.channel);
    if (subscription === undefined) return;
    if (this.#ready) this.#connection?.unsubscribe([reset.channel]);
    void subscription.reset(reset).then((goesOn) => {
      if (goesOn && this.#subscriptions.get(reset.channel) === subscription) {
        this.#subscribeOn([subscription]);
      }
    });
  }

  /**
   * The edge serves a subscription but is not an owner of its partition:
   * asks the router whether to move, once per connection and set of
   * channels, and if so reconnects there at once, resuming every
   * subscription from its position.
   */
  #hinted(generation: number, hint: string, edge: string): void {
    const router = this.#options.router;
    const channels = this.#channels();
    const asked = `${generation}\n${channels.join(',')}`;
    if (router.hinted === undefined || this.#hintAsked === asked) return;
    this.#hintAsked = asked;
    router.hinted(hint, edge, channels).then(
      (target) => {
        if (target === undefined || target === edge || this.#stale(generation)) return;
        this.#move(target);
      },
      () => {
        // Stay: the edge serves the subscription all the same.
      },
    );
  }

  /** Leaves the open connection for `target` and resumes there. */
  #move(target: string): void {
    this.#connection?.close();
    this.#connection = undefined;
    this.#ready = false;
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    for (const subscription of this.#subscriptions.values()) subscription.pending();
    this.#openedAt = undefined;
    this.#options.router.redirect(target);
    void this.#connect();
  }

  #armTokenRefresh(): void {
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    const refreshAt = this.#tokens.refreshAt();
    if (refreshAt === undefined) return;
    const generation = this.#generation;
    this.#refreshTimer = setTimeout(
      () => {
        this.#tokens.get('refresh').then(
          (token) => {
            if (generation !== this.#generation || this.#closed) return;
            if (token !== undefined) this.#connection?.refreshToken(token);
            this.#armTokenRefresh();
          },
          () => {
            // The provider failed: the edge closes at expiry and the reconnect asks again.
          },
        );
      },
      Math.max(1000, refreshAt - Date.now()),
    );
  }

  #closedConnection(close: TransportClose, transport: Transport, edge: string): void {
    this.#connection = undefined;
    this.#ready = false;
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    for (const subscription of this.#subscriptions.values()) subscription.pending();
    if (close.action === 'stop') {
      this.#fail(close.error, transport);
      return;
    }
    if (close.error.code === 'token_expired') this.#tokenReason = 'expired';
    if (
      this.#openedAt !== undefined &&
      Date.now() - this.#openedAt >= this.#options.backoffResetAfterMs
    ) {
      this.#backoff.reset();
    }
    this.#openedAt = undefined;
    if (close.action === 'resume_elsewhere' && close.hint !== undefined) {
      this.#options.router.redirect(close.hint);
      // Drains are paced by the edge; a short jittered delay spreads the rest.
      this.#retry(
        close.error,
        Math.floor(this.#options.random() * this.#options.backoff.initialMs),
        transport.name,
      );
      return;
    }
    if (close.neverOpened) {
      this.#options.router.failed(edge);
      this.#failedOpens++;
      const patience = this.#proven.has(transport) ? provenTransportPatience : 1;
      const count = this.#options.transports.length;
      if (this.#failedOpens >= patience && count > 1) {
        this.#failedOpens = 0;
        this.#transportIndex = (this.#transportIndex + 1) % count;
        if (this.#transportIndex !== 0) {
          // Blocked, maybe: try the next transport at once.
          this.#retry(close.error, 0, transport.name);
          return;
        }
      }
    }
    this.#retry(close.error, this.#backoff.next(), transport.name);
  }

  #retry(error: FanoutError, delay: number, transport: Transport['name']): void {
    if (this.#closed) return;
    this.#setStatus({
      state: 'disconnected',
      transport,
      attempt: this.#backoff.attempt,
      retryInMs: delay,
      error,
    });
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #fail(error: FanoutError, transport: Transport): void {
    this.#closed = true;
    this.#stopTimers();
    this.#options.router.close?.();
    for (const subscription of [...this.#subscriptions.values()]) subscription.fail(error);
    for (const state of this.#allStates()) state.fail(error);
    this.#setStatus({ state: 'closed', transport: transport.name, attempt: 0, error });
    this.#statusListeners.clear();
  }
}

/** A client for the edges at `options.url` (or chosen by `options.router`). */
export function createClient(options: ClientOptions): FanoutClient {
  return new FanoutClient(options);
}

/**
 * An absolute http(s) URL without user name or password, at most 4096
 * characters, as the edge checks it (which says what is wrong).
 */
function checkResourceUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    url.length > 4096 ||
    (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') ||
    parsed.username !== '' ||
    parsed.password !== ''
  ) {
    throw new FanoutError(
      'invalid_argument',
      'resource must be an absolute http(s) URL of at most 4096 characters, without user name or password',
    );
  }
}

function checkDelta(options: StateOptions): void {
  if (options.delta !== undefined && !stateDeltaKinds.includes(options.delta)) {
    throw new FanoutError('invalid_argument', `delta must be one of ${stateDeltaKinds.join(', ')}`);
  }
}

/** `rewind` is a whole number of events, for a channel (a pattern has no last events). */
function checkRewind(channel: string, rewind: number | undefined): void {
  if (rewind === undefined) return;
  if (!Number.isSafeInteger(rewind) || rewind < 0) {
    throw new FanoutError('invalid_argument', 'rewind must be a whole number of events');
  }
  if (rewind > 0 && isChannelPattern(channel)) {
    throw new FanoutError('invalid_argument', 'rewind is for a channel, not a pattern');
  }
}
