/**
 * `@fanout/shared/portable`: the modules that run in a browser as well as in
 * Node.js — no Node built-ins, no server-side dependencies.
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
export { FanoutError, isFanoutError, toFanoutError } from './fanout-error.js';
export type { ErrorDetails, FanoutErrorBody, FanoutErrorOptions } from './fanout-error.js';
export { comparePositions, formatPosition, isValidEpoch, parsePosition } from './position.js';
export type { PositionValue } from './position.js';
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
