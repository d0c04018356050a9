/**
 * `@fanout/shared`: what every fanout service shares. The browser-safe part
 * is also available alone as `@fanout/shared/portable`.
 */
export {
  actionForCloseCode,
  assertValidChannel,
  ClientFrame,
  CloseCode,
  CloseCodeRange,
  comparePositions,
  cursorOffsetIn,
  decodeEvent,
  DisconnectAction,
  encodeEvent,
  errorCatalog,
  errorCodeForCloseCode,
  errorCodes,
  errorSpec,
  Event,
  fanout,
  FanoutError,
  formatPosition,
  formatPositionOf,
  formatStreamCursor,
  GrpcStatus,
  isChannelPattern,
  isErrorCode,
  isFanoutError,
  isJsonObject,
  isOwner,
  isStateOperation,
  isValidChannel,
  isValidEpoch,
  maxChannelLength,
  maxCursorLength,
  movedPlacements,
  murmur2,
  normalizeMembers,
  ownersOf,
  partitionForChannel,
  parsePosition,
  parseStreamCursor,
  namespacesAllow,
  patternMatches,
  pb,
  pickEdge,
  placementLoads,
  placementScore,
  placementVersion,
  placePartitions,
  Position,
  PublishEvent,
  PublishRequest,
  PublishResponse,
  PublishStreamRequest,
  PublishStreamResponse,
  readJsonFrame,
  stateContentTypes,
  stateOperationNumbers,
  stateOperationOf,
  stateOperations,
  ServerFrame,
  toCloseCode,
  toFanoutError,
  toGrpcStatus,
  toHttpStatus,
  writeJsonFrame,
  batchFrameOverhead,
  encodeJsonBatchFrame,
  wsJsonCodec,
  wsProtoCodec,
} from './portable.js';
export type {
  ClientAction,
  ClientMessage,
  CloseAction,
  CloseCodeName,
  ControlMessage,
  CursorMismatch,
  ErrorCode,
  ErrorDetails,
  ErrorSpec,
  FanoutErrorBody,
  FanoutErrorOptions,
  GrpcStatusName,
  JsonFrame,
  JsonObject,
  Placement,
  PlacementOptions,
  PositionValue,
  ReceivedClientMessage,
  ReceivedSubscriptionRequest,
  RewindResult,
  ServerMessage,
  StateOperation,
  StreamCursor,
  SubscriptionRequest,
  StateChangeRefusedFrame,
  StatePatchFrame,
  StateSnapshotFrame,
  SubscriptionState,
  WsFrameCodec,
} from './portable.js';
export { configFields, configFileEnv, envName } from './config-fields.js';
export type { ConfigField, ConfigFieldKind } from './config-fields.js';
export {
  formerToolingEnvNames,
  isReservedEnv,
  loadConfig,
  loadConfigOrExit,
  reservedEnvNames,
  toolingEnvPrefixes,
} from './config-loader.js';
export type { LoadConfigOptions } from './config-loader.js';
export { configJsonSchema, configSchema } from './config-schema.js';
export type { FanoutConfig, FanoutConfigInput } from './config-schema.js';
export { CorsPolicy } from './cors.js';
export type { CorsHeaderLines, CorsPolicyOptions } from './cors.js';
export { contractDescriptorSet } from './descriptor-set.js';
export { createJwtVerifier, jwtVerifierFromConfig } from './jwt-verifier.js';
export type { JwtVerifier, JwtVerifierOptions, VerifiedToken } from './jwt-verifier.js';
export { kafkaConnectionOptions, parseBrokerAddress, tlsServerNameOf } from './kafka-connection.js';
export { fetchTopicId, topicIdToEpoch } from './kafka-topic-id.js';
export type { TopicIdOptions } from './kafka-topic-id.js';
export { createLogger, serializeError } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { startMetricsServer } from './metrics-server.js';
export type { MetricsServer, MetricsServerOptions, Readiness } from './metrics-server.js';
export { encodeEventBatchFrame, encodeEventFrame } from './proto-event-frame.js';
export { positionFromProto } from './proto-position.js';
export { IngestServiceDefinition } from '../generated/ingest-service.js';
export { renderConfigurationReference, renderErrorsReference } from './reference-docs.js';
export { createSpanRecorder, metricsPrefix, startTelemetry } from './telemetry.js';
export { registerProcessMetrics, runQueueWaitAt, runQueueWaitFrom } from './process-metrics.js';
export { runServiceMain } from './service-main.js';
export type { ServiceApp, ServiceMainOptions } from './service-main.js';
export type { SpanRecorder, Telemetry, TelemetryOptions } from './telemetry.js';
export { TokenBucket } from './token-bucket.js';
export type { TokenBucketOptions } from './token-bucket.js';
export {
  applyJsonPatch,
  applyMergePatch,
  applyStateChange,
  applyStateDelta,
  canonicalJson,
  defaultStateLimits,
  documentExists,
  foldStateChanges,
  isJsonRecord,
  jsonDepth,
  jsonEqual,
  jsonPatchBetween,
  keyedJsonPatch,
  maxArrayKeyLength,
  mergePatchBetween,
  parseArrayKey,
  readStateData,
  stateDelta,
  utf8Length,
} from './portable-state.js';
export type {
  ArrayKeyTokens,
  JsonArray,
  JsonPatchOperation,
  JsonPatchRefusal,
  JsonPatchRefusalReason,
  JsonPatchResult,
  JsonRecord,
  JsonValue,
  StateChange,
  StateChangeOp,
  StateChangeResult,
  StateDataProblem,
  StateDataResult,
  StateDelta,
  StateDeltaKind,
  StateDeltaResult,
  StateDocument,
  StateFold,
  StateLimits,
  StateRefusal,
  StateRefusalReason,
} from './portable-state.js';
export { DnsMembership } from './membership/dns-membership.js';
export type { DnsMembershipOptions } from './membership/dns-membership.js';
export { FileMembership, parseMembersFile } from './membership/file-membership.js';
export type { FileMembershipOptions } from './membership/file-membership.js';
export {
  inClusterOptions,
  KubernetesMembership,
  membersOfSlices,
} from './membership/kubernetes-membership.js';
export type { KubernetesMembershipOptions } from './membership/kubernetes-membership.js';
export { membershipFromConfig } from './membership/membership-from-config.js';
export type { MembershipFromConfigOptions } from './membership/membership-from-config.js';
export { ManualMembership } from './membership/manual-membership.js';
export {
  memberUrl,
  normalizeMemberList,
  parseStaticMember,
  sameMembers,
} from './membership/membership-source.js';
export type {
  Member,
  MembershipErrorHandler,
  MembershipListener,
  MembershipSource,
} from './membership/membership-source.js';
export { ProbedMembership } from './membership/probed-membership.js';
export type {
  LivenessChange,
  LivenessObserver,
  ProbedMembershipOptions,
} from './membership/probed-membership.js';
export { probeReadiness, readinessPath } from './membership/readiness-probe.js';
export type { ProbeResult, ReadinessProbe } from './membership/readiness-probe.js';
export { SettledMembership } from './membership/settled-membership.js';
export type { SettledMembershipOptions } from './membership/settled-membership.js';
export { StaticMembership } from './membership/static-membership.js';
export {
  base32,
  leasedResourceChannel,
  resourceHashLength,
  resourceIdentity,
  textHash,
} from './resource-key.js';
