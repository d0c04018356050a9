/**
 * An SSE stream of one state channel (`GET /v1/state/{channel}` with
 * `watch=true` or `Accept: text/event-stream`): a reader of the channel's
 * tracker writing `snapshot`, `patch` and `state_change_refused` events on
 * an `SseStream` (heartbeats, backpressure, close linger), and a session of
 * the registry, so the drain and the rebalance end it like any stream, its
 * last position as the `disconnect` cursor.
 */
import type { FanoutError } from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { SessionRegistry, Session } from '../subscriptions/session-registry.js';
import type {
  StateListener,
  StateOpening,
  StateSnapshot,
  StateTracker,
} from '../subscriptions/state/state-tracker.js';
import type { RefusedChange, StateStep } from '../subscriptions/state/state-step.js';
import type { SseStream, SseWatch } from './sse-stream.js';

/** A snapshot: `{"channel":..., "state":..., "exists":..., "position":...[, "reset":true]}`. */
export function snapshotJson(snapshot: StateSnapshot, reset: boolean): string {
  return `{"channel":${JSON.stringify(snapshot.channel)},"state":${snapshot.json ?? 'null'},"exists":${String(snapshot.json !== undefined)},"position":${JSON.stringify(snapshot.position)}${reset ? ',"reset":true' : ''}}`;
}

export class StateWatch implements StateListener, Session, SseWatch {
  readonly stream: SseStream;
  readonly #tracker: StateTracker;
  readonly #sessions: SessionRegistry;
  readonly #metrics: EdgeMetrics;
  #position: string | undefined;

  constructor(
    stream: SseStream,
    tracker: StateTracker,
    sessions: SessionRegistry,
    metrics: EdgeMetrics,
  ) {
    this.stream = stream;
    this.#tracker = tracker;
    this.#sessions = sessions;
    this.#metrics = metrics;
  }

  get key(): string {
    return this.stream.key;
  }

  readonly transport = 'sse';

  get closed(): boolean {
    return this.stream.closed;
  }

  partitions(): ReadonlySet<number> {
    return new Set([this.#tracker.partition]);
  }

  close(code: FanoutError['code'], message: string, hint?: string): void {
    this.stream.end(code, message, hint);
  }

  /** Writes what the reader starts from: a snapshot, or the patches after its position. */
  open(opening: StateOpening, since: string | undefined): void {
    this.#sessions.add(this);
    this.stream.start();
    if (opening.kind === 'snapshot') {
      const { snapshot } = opening;
      const data = snapshotJson(snapshot, opening.reset);
      this.#metrics.stateSnapshotBytes.inc({ transport: 'sse' }, data.length);
      this.#position = snapshot.position;
      this.stream.send(`event: snapshot\nid: ${snapshot.position}\ndata: ${data}\n\n`);
      return;
    }
    this.#position = since;
    for (const step of opening.steps) this.changed(step);
  }

  changed(step: StateStep): void {
    if (this.stream.closed) return;
    const event = step.sseEvent;
    this.#metrics.statePatchBytes.inc({ transport: 'sse' }, event.length);
    this.#position = step.position;
    this.stream.send(event);
  }

  refused(change: RefusedChange): void {
    if (this.stream.closed) return;
    this.#position = change.position;
    this.stream.send(change.sseEvent);
  }

  ended(error: FanoutError): void {
    this.stream.end(error.code, error.message);
  }

  position(): string | undefined {
    return this.#position;
  }

  /** The stream closed: the reader leaves the tracker and the registry. */
  end(): void {
    this.#tracker.leave(this);
    this.#sessions.delete(this);
  }
}
