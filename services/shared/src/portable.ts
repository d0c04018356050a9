/**
 * `@fanout/shared/portable`: the modules that run in a browser as well as in
 * Node.js — no Node built-ins, no server-side dependencies: the core
 * (`portable-core.ts`) and the protobuf codecs.
 */
export {
  actionForCloseCode,
  assertValidChannel,
  CloseCode,
  CloseCodeRange,
  comparePositions,
  errorCatalog,
  errorCodeForCloseCode,
  errorCodes,
  errorSpec,
  FanoutError,
  formatPosition,
  GrpcStatus,
  isChannelPattern,
  isErrorCode,
  isFanoutError,
  isJsonObject,
  isValidChannel,
  isValidEpoch,
  maxChannelLength,
  murmur2,
  namespacesAllow,
  parsePosition,
  partitionForChannel,
  patternMatches,
  readJsonFrame,
  toCloseCode,
  toFanoutError,
  toGrpcStatus,
  toHttpStatus,
  writeJsonFrame,
} from './portable-core.js';
export type {
  ClientAction,
  CloseAction,
  CloseCodeName,
  ErrorCode,
  ErrorDetails,
  ErrorSpec,
  FanoutErrorBody,
  FanoutErrorOptions,
  GrpcStatusName,
  JsonFrame,
  JsonObject,
  PositionValue,
} from './portable-core.js';
export {
  ClientFrame,
  decodeEvent,
  DisconnectAction,
  encodeEvent,
  Event,
  fanout,
  pb,
  Position,
  PublishEvent,
  PublishRequest,
  PublishResponse,
  PublishStreamRequest,
  PublishStreamResponse,
  ServerFrame,
} from './proto.js';
export { encodeEventFrame } from './proto-event-frame.js';
export { positionFromProto } from './proto-position.js';
export {
  isOwner,
  movedPlacements,
  normalizeMembers,
  ownersOf,
  pickEdge,
  placementLoads,
  placementScore,
  placementVersion,
  placePartitions,
} from './placement.js';
export type { Placement, PlacementOptions } from './placement.js';
