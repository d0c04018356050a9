/**
 * `@fanout/shared/portable-core`: the browser-safe modules without the
 * protobuf codecs — channel names, partitions, close codes, the error catalog,
 * FanoutError, the JSON WebSocket frame codec and frame model, positions and
 * the placement of partitions on edges. Small enough for a browser bundle: a client that
 * speaks only JSON does not carry protobufjs (`portable.ts` adds the codecs).
 */
export {
  assertValidChannel,
  isChannelPattern,
  isValidChannel,
  maxChannelLength,
  namespacesAllow,
  patternMatches,
} from './channel.js';
export { murmur2, partitionForChannel } from './channel-partition.js';
export { actionForCloseCode, CloseCode, CloseCodeRange } from './close-codes.js';
export type { ClientAction, CloseAction, CloseCodeName } from './close-codes.js';
export {
  errorCatalog,
  errorCodeForCloseCode,
  errorCodes,
  errorSpec,
  GrpcStatus,
  isErrorCode,
  toCloseCode,
  toGrpcStatus,
  toHttpStatus,
} from './error-catalog.js';
export type { ErrorCode, ErrorSpec, GrpcStatusName } from './error-catalog.js';
export { eventFromJson, isJsonContentType } from './fanout-event.js';
export type { FanoutEvent } from './fanout-event.js';
export { FanoutError, isFanoutError, toFanoutError } from './fanout-error.js';
export type { ErrorDetails, FanoutErrorBody, FanoutErrorOptions } from './fanout-error.js';
export { isJsonObject, readJsonFrame, writeJsonFrame } from './json-frame.js';
export type { JsonFrame, JsonObject } from './json-frame.js';
export {
  comparePositions,
  formatPosition,
  formatPositionOf,
  isValidEpoch,
  parsePosition,
} from './position.js';
export type { PositionValue } from './position.js';
export {
  cursorOffsetIn,
  formatStreamCursor,
  maxCursorLength,
  parseStreamCursor,
} from './stream-cursor.js';
export type { CursorMismatch, StreamCursor } from './stream-cursor.js';
export {
  isOwner,
  normalizeMembers,
  ownersOf,
  pickEdge,
  placementScore,
  placementVersion,
  placePartitions,
} from './placement.js';
export type { Placement, PlacementOptions } from './placement.js';
export {
  isStateOperation,
  stateContentTypes,
  stateOperationNumbers,
  stateOperationOf,
  stateOperations,
} from './state-operation.js';
export type { StateOperation } from './state-operation.js';
export {
  batchFrameOverhead,
  encodeJsonBatchFrame,
  stateDeltaKinds,
  wsJsonCodec,
} from './ws-json-codec.js';
export type {
  ClientMessage,
  ControlMessage,
  ReceivedClientMessage,
  ReceivedSubscriptionRequest,
  RewindResult,
  ServerMessage,
  SubscriptionRequest,
  StateChangeRefusedFrame,
  StatePatchFrame,
  StateSnapshotFrame,
  SubscriptionState,
  WsFrameCodec,
} from './ws-messages.js';
