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
 * time a reader asks for one: live readers ask as the tracker tells them of
 * the step, after which the tracker has the ring call `release()`: the step
 * keeps only its encoded patch (`json`, one string) and its positions; its
 * operations are parsed again from it and its WebSocket JSON Patch frames
 * made from it when a resuming reader asks. A released step cannot make a
 * merge-patch or full delta (`canEncode`): the tracker answers such a
 * reader with a snapshot. A held step so costs about its encoded patch.
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

/** What a held step costs beside its encoded patch: the object, its position strings (measured). */
const stepOverheadBytes = 192;

export class StateStep {
  /** Kafka offset of the change. */
  readonly offset: number;
  #position: string;
  #base: string;
  /** Whether the document exists after the step. */
  readonly exists: boolean;
  #ops: readonly JsonPatchOperation[] | undefined;
  /** Until released. */
  #documents: StepDocuments | undefined;
  #json: string | undefined;
  /** Where the operations start in `#json`. */
  #opsAt = 0;
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
    this.#position = position;
    this.#base = base;
    this.exists = documents.next !== undefined;
    this.#ops = ops;
    this.#documents = documents;
  }

  /** `<epoch>:<partition>:<offset>` of the change: the state's position after it. */
  get position(): string {
    return this.#position;
  }

  /** The position of the state it applies to (the previous change's, or where folding started). */
  get base(): string {
    return this.#base;
  }

  /** Its JSON Patch operations (parsed again from `json` once released). */
  get ops(): readonly JsonPatchOperation[] {
    return this.#ops ?? (JSON.parse(this.#opsText()) as JsonPatchOperation[]);
  }

  /**
   * Keeps only the encoded patch: drops the documents, the operations and
   * the frames (made again if a resuming reader asks).
   */
  release(): void {
    if (this.#documents === undefined) return;
    const json = this.json;
    // The positions as slices of the encoded patch (which holds them) instead of strings of their own.
    const position = JSON.stringify(this.#position);
    if (position.length === this.#position.length + 2) {
      const at = '{"position":"'.length;
      this.#position = json.slice(at, at + this.#position.length);
      const baseAt = at + position.length + ',"base":"'.length - 1;
      if (JSON.stringify(this.#base).length === this.#base.length + 2) {
        this.#base = json.slice(baseAt, baseAt + this.#base.length);
      }
    }
    this.#ops = undefined;
    this.#documents = undefined;
    this.#sseEvent = undefined;
    this.#wsFrames = undefined;
  }

  /** Whether it can be sent as `delta` (a released step: JSON Patch only). */
  canEncode(delta: StateDeltaKind): boolean {
    return delta === 'json-patch' || this.#documents !== undefined;
  }

  /** What it weighs in a patch ring: its encoded patch and its fixed part. */
  get heldBytes(): number {
    return this.json.length + stepOverheadBytes;
  }

  /**
   * `{"position":..., "base":..., "op":[...]}`: a patch of a GET answer and
   * the data of an SSE `patch`.
   */
  get json(): string {
    if (this.#json === undefined) {
      // One JSON.stringify: a flat string (a concatenation would be held as its pieces).
      const { position, base } = this;
      this.#opsAt =
        '{"position":,"base":,"op":'.length +
        JSON.stringify(position).length +
        JSON.stringify(base).length;
      this.#json = JSON.stringify({ position, base, op: this.#ops });
    }
    return this.#json;
  }

  /** The JSON text of its operations. */
  #opsText(): string {
    return this.json.slice(this.#opsAt, -1);
  }

  /**
   * The WebSocket `patch` frame of this step for a subscription of `delta`
   * on `format`, encoded once and shared by every subscriber (of `channel`,
   * the tracker's: always the same). A released step is sent as JSON Patch
   * whatever `delta` (readers apply any kind; the tracker does not give a
   * released step to a reader of another kind, see `canEncode`).
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
    const { exists } = this;
    const documents = this.#documents;
    if (delta === 'json-patch' || documents === undefined) {
      return { delta: 'json-patch', patch: this.#opsText(), exists };
    }
    const { previous, next, nextJson } = documents;
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
    if (this.#documents === undefined) {
      return `event: patch\nid: ${this.position}\ndata: ${this.json}\n\n`;
    }
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
