/**
 * One change of a state channel's document as the tracker publishes it: its
 * position, the position of the state it applies to (`base`), its JSON Patch
 * operations (state-patch.ts), computed once, and its encodings, made at
 * most once per wire format (and for WebSocket per delta kind) whatever the
 * number of readers. A refused change is a `RefusedChange`: reported with
 * its position, the document left as it was.
 *
 * A step holds the documents before and after it (immutable values sharing
 * what did not change) so a merge-patch or full delta is computed the first
 * time a reader asks for one, also for a step of the patch ring. Once a
 * later step exists, the ring calls `superseded()`: the step forgets the
 * canonical JSON after it and its encoded WebSocket frames (made again if a
 * resuming reader asks), so a held step costs about its patch, not a copy
 * of the document (the documents themselves share what a change did not
 * touch).
 */
import {
  canonicalJson,
  stateDelta,
  wsJsonCodec,
  wsProtoCodec,
  type JsonPatchOperation,
  type StateDeltaKind,
  type StateDocument,
  type StateRefusalReason,
} from '@fanout/shared';

/** The documents around a step: before it, after it, and the canonical JSON after it. */
export interface StepDocuments {
  readonly previous: StateDocument;
  readonly next: StateDocument;
  /** `undefined` when `next` is absent. */
  readonly nextJson: string | undefined;
}

/** A WebSocket `patch` frame's content: its delta kind, the JSON text of its patch, whether a document follows. */
interface WsPatch {
  readonly delta: StateDeltaKind;
  readonly patch: string | undefined;
  readonly exists: boolean;
}

const wsFrameKeys = {
  json: { 'json-patch': 0, 'merge-patch': 1, full: 2 },
  proto: { 'json-patch': 3, 'merge-patch': 4, full: 5 },
} as const;

export class StateStep {
  /** Kafka offset of the change. */
  readonly offset: number;
  /** `<epoch>:<partition>:<offset>` of the change: the state's position after it. */
  readonly position: string;
  /** The position of the state it applies to (the previous change's, or where folding started). */
  readonly base: string;
  readonly ops: readonly JsonPatchOperation[];
  #documents: StepDocuments;
  #json: string | undefined;
  #sseEvent: string | undefined;
  /** WebSocket frames by `wsFrameKeys`, made on first use. */
  #wsFrames: (string | Uint8Array | undefined)[] | undefined;

  constructor(
    offset: number,
    position: string,
    base: string,
    ops: readonly JsonPatchOperation[],
    documents: StepDocuments,
  ) {
    this.offset = offset;
    this.position = position;
    this.base = base;
    this.ops = ops;
    this.#documents = documents;
  }

  /** A later step exists: drops what can be made again (the JSON after it, WebSocket frames). */
  superseded(): void {
    if (this.#documents.nextJson !== undefined) {
      this.#documents = {
        previous: this.#documents.previous,
        next: this.#documents.next,
        nextJson: undefined,
      };
    }
    this.#wsFrames = undefined;
  }

  /** Whether the document exists after the step. */
  get exists(): boolean {
    return this.#documents.next !== undefined;
  }

  /**
   * `{"position":..., "base":..., "op":[...]}`: a patch of a GET answer and
   * the data of an SSE `patch`.
   */
  get json(): string {
    this.#json ??= `{"position":${JSON.stringify(this.position)},"base":${JSON.stringify(this.base)},"op":${JSON.stringify(this.ops)}}`;
    return this.#json;
  }

  /**
   * The WebSocket `patch` frame of this step for a subscription of `delta`
   * on `format`, encoded once and shared by every subscriber (of `channel`,
   * the tracker's: always the same).
   */
  wsFrame(channel: string, format: 'json' | 'proto', delta: StateDeltaKind): string | Uint8Array {
    const key = wsFrameKeys[format][delta];
    const frames = (this.#wsFrames ??= []);
    let frame = frames[key];
    if (frame === undefined) {
      const { delta: kind, patch, exists } = this.#wsPatch(delta);
      const message = {
        kind: 'patch',
        channel,
        position: this.position,
        base: this.base,
        delta: kind,
        ...(patch === undefined ? {} : { patch }),
        exists,
      } as const;
      frame =
        format === 'json'
          ? wsJsonCodec.encodeServerFrame(message)
          : wsProtoCodec.encodeServerFrame(message);
      frames[key] = frame;
    }
    return frame;
  }

  /** The content of a `patch` frame of `delta`: a kind that cannot express the step sends the document. */
  #wsPatch(delta: StateDeltaKind): WsPatch {
    const { previous, next, nextJson } = this.#documents;
    const exists = next !== undefined;
    if (delta === 'json-patch') {
      return { delta, patch: JSON.stringify(this.ops), exists };
    }
    const computed = stateDelta(previous, next, delta, nextJson);
    switch (computed.kind) {
      case 'merge-patch':
        return { delta: 'merge-patch', patch: JSON.stringify(computed.patch), exists };
      case 'full':
        return { delta: 'full', patch: nextJson ?? canonicalJson(computed.document), exists };
      case 'json-patch':
        return { delta: 'json-patch', patch: JSON.stringify(computed.ops), exists };
      case 'absent':
        return { delta: 'full', patch: undefined, exists: false };
    }
  }

  /** The SSE `patch` event (its id resumes after it). */
  get sseEvent(): string {
    this.#sseEvent ??= `event: patch\nid: ${this.position}\ndata: ${this.json}\n\n`;
    return this.#sseEvent;
  }
}

/** Why a change of the log was not folded: the fold's refusals, or an operation this edge does not know. */
export type RefusedChangeReason = StateRefusalReason | 'unknown-operation';

export class RefusedChange {
  readonly offset: number;
  readonly position: string;
  readonly reason: RefusedChangeReason;
  readonly message: string;
  #sseEvent: string | undefined;

  constructor(offset: number, position: string, reason: RefusedChangeReason, message: string) {
    this.offset = offset;
    this.position = position;
    this.reason = reason;
    this.message = message;
  }

  /** `{"code":"state_change_refused","position":...,"reason":...,"message":...}`. */
  get json(): string {
    return JSON.stringify({
      code: 'state_change_refused',
      position: this.position,
      reason: this.reason,
      message: this.message,
    });
  }

  /** The SSE `state_change_refused` event (its id resumes after it). */
  get sseEvent(): string {
    this.#sseEvent ??= `event: state_change_refused\nid: ${this.position}\ndata: ${this.json}\n\n`;
    return this.#sseEvent;
  }
}
