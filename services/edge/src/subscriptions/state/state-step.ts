/**
 * One change of a state channel's document as the tracker publishes it: its
 * position and JSON Patch operations (state-patch.ts), computed once, and
 * its encodings, made at most once per wire format whatever the number of
 * readers. A refused change is a `RefusedChange`: reported with its position,
 * the document left as it was.
 */
import type { JsonPatchOperation, StateRefusalReason } from '@fanout/shared';

export class StateStep {
  /** Kafka offset of the change. */
  readonly offset: number;
  /** `<epoch>:<partition>:<offset>` of the change. */
  readonly position: string;
  readonly ops: readonly JsonPatchOperation[];
  #json: string | undefined;
  #sseEvent: string | undefined;

  constructor(offset: number, position: string, ops: readonly JsonPatchOperation[]) {
    this.offset = offset;
    this.position = position;
    this.ops = ops;
  }

  /** `{"position":..., "op":[...]}`: a patch of a GET answer and the data of an SSE `patch`. */
  get json(): string {
    this.#json ??= `{"position":${JSON.stringify(this.position)},"op":${JSON.stringify(this.ops)}}`;
    return this.#json;
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
