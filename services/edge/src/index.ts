export { startEdgeApp } from './edge-app.js';
export type { EdgeApp, EdgeAppOptions } from './edge-app.js';
export { startEdgeServer } from './edge-server.js';
export type { EdgeServer, EdgeServerOptions } from './edge-server.js';
export { eventJsonText } from './log/edge-event.js';
export { parseStreamCursor, formatStreamCursor } from './subscriptions/stream-cursor.js';
export {
  applyStatePatch,
  applyWsStatePatch,
  statePatchOps,
} from './subscriptions/state/state-patch.js';
export type { StatePatchResult } from './subscriptions/state/state-patch.js';
export type { StreamCursor } from './subscriptions/stream-cursor.js';
export { decodeClientFrame, encodeServerFrame } from './transport/ws-frames.js';
export type { ClientMessage, ServerMessage } from './transport/ws-frames.js';
export { requireNativeUws, uwsNativeStatus } from './transport/uws-native.js';
export type { Uws, UwsNativeStatus } from './transport/uws-native.js';
export {
  DnsMembership,
  FileMembership,
  inClusterOptions,
  KubernetesMembership,
  membersOfSlices,
  membershipFromConfig,
  memberUrl,
  normalizeMemberList,
  parseMembersFile,
  parseStaticMember,
  ProbedMembership,
  probeReadiness,
  readinessPath,
  sameMembers,
  SettledMembership,
  StaticMembership,
} from '@fanout/shared';
export type {
  DnsMembershipOptions,
  FileMembershipOptions,
  KubernetesMembershipOptions,
  LivenessChange,
  LivenessObserver,
  Member,
  MembershipErrorHandler,
  MembershipListener,
  MembershipSource,
  ProbedMembershipOptions,
  ProbeResult,
  ReadinessProbe,
  SettledMembershipOptions,
} from '@fanout/shared';
export { uwsFaults } from './transport/uws-guard.js';
export { logUnavailable } from './log/event-log.js';
export type {
  EventLog,
  FetchOptions,
  LogLane,
  LogRecord,
  PartitionFetch,
  PartitionOffsets,
  PartitionRead,
  PartitionReadStatus,
  TopicLayout,
} from './log/event-log.js';
export { KafkaEventLog } from './log/kafka-event-log.js';
export { MemoryEventLog } from './log/memory-event-log.js';
export type {
  MemoryEvent,
  MemoryEventLogOptions,
  MemoryRawRecord,
  MemoryRecord,
} from './log/memory-event-log.js';
export {
  decodeCheckpoint,
  encodeCheckpoint,
  partitionMarkKey,
} from './subscriptions/state/checkpoint-record.js';
export type { CheckpointRecord } from './subscriptions/state/checkpoint-record.js';
export { checkpointTopicOf } from './log/checkpoint-log.js';
export { createEdgeMetrics } from './edge-metrics.js';
export type { EdgeMetrics } from './edge-metrics.js';
export { startMemoryHub } from './subscriptions/memory-hub.js';
export { StateTrackers } from './subscriptions/state/state-trackers.js';
export { PartitionCheckpointer } from './subscriptions/state/checkpoint-partition.js';
export type { CheckpointLog, CheckpointWrite } from './log/checkpoint-log.js';
export { bridgeMembership, bridgePortName } from './resources/resource-bridges.js';
export { ResourceLeases } from './resources/resource-leases.js';
export type { ResourcesConfig } from './resources/resource-leases.js';
