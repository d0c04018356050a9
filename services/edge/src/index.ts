export { startEdgeApp } from './edge-app.js';
export type { EdgeApp, EdgeAppOptions } from './edge-app.js';
export { startEdgeServer } from './edge-server.js';
export type { EdgeServer, EdgeServerOptions } from './edge-server.js';
export { eventJsonText } from './edge-event.js';
export { parseStreamCursor, formatStreamCursor } from './stream-cursor.js';
export type { StreamCursor } from './stream-cursor.js';
export { decodeClientFrame, encodeServerFrame } from './ws-frames.js';
export type { ClientMessage, ServerMessage } from './ws-frames.js';
export { requireNativeUws, uwsNativeStatus } from './uws-native.js';
export type { Uws, UwsNativeStatus } from './uws-native.js';
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
export { uwsFaults } from './uws-guard.js';
export { logUnavailable } from './event-log.js';
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
} from './event-log.js';
export { KafkaEventLog } from './kafka-event-log.js';
export { MemoryEventLog } from './memory-event-log.js';
export type {
  MemoryEvent,
  MemoryEventLogOptions,
  MemoryRawRecord,
  MemoryRecord,
} from './memory-event-log.js';
