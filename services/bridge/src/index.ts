/**
 * `@fanout/bridge`: live resources. Polls JSON REST resources of allowed
 * upstream origins and publishes each changed answer, through the ingest, as
 * the state of a state channel; the service (`main.ts`) places declared and
 * leased resources on the bridges of its membership.
 */
export { startBridgeApp } from './bridge-app.js';
export type { BridgeApp, BridgeAppOptions } from './bridge-app.js';
export { leasesPath, maxLeaseBodyBytes, startBridgeHttpServer } from './bridge-http.js';
export type { BridgeHttpHandlers, BridgeHttpServer } from './bridge-http.js';
export { createBridgeMetrics } from './bridge-metrics.js';
export type { BridgeMetrics } from './bridge-metrics.js';
export { BridgeResource, resourceStatusEventType } from './bridge-resource.js';
export type { BridgeResourceOptions, ResourceKind, ResourceSpec } from './bridge-resource.js';
export { BridgeRuntime, declaredResources } from './bridge-runtime.js';
export type { BridgeRuntimeOptions, LeaseGrant, OnDemandSettings } from './bridge-runtime.js';
export { IngestPublisher, ingestPublisherOptions, PublishFailure } from './ingest-publisher.js';
export type {
  BridgePublisher,
  EventPublish,
  IngestPublisherOptions,
  PublishOutcome,
  StatePut,
} from './ingest-publisher.js';
export { LeaseTable } from './lease-table.js';
export type { LeaseEntry, LeaseRenewal } from './lease-table.js';
export { maxLeaseHeaders, maxLeaseUrlLength, parseLeaseRequest } from './lease-request.js';
export type { LeaseRequest } from './lease-request.js';
export { PublishLane } from './publish-lane.js';
export type { LanePublish, PublishKind, PublishLaneListener } from './publish-lane.js';
export {
  base32,
  leasedResourceChannel,
  resourceHashLength,
  resourceIdentity,
  textHash,
} from '@fanout/shared';
export { resourceOwner } from './resource-placement.js';
export { resourceStatusEvent, shownResource } from './resource-status.js';
export type { ResourceHealthWord, ResourceStatusEvent } from './resource-status.js';
export { classifyAddress, parseIPv4, parseIPv6, privateClasses } from './address-class.js';
export type { AddressClass } from './address-class.js';
export { systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { backoffDelayMs, cacheMaxAgeMs, retryAfterMs } from './http-timing.js';
export { ResourcePoller } from './resource-poller.js';
export type {
  ResourceChangeMeta,
  ResourceHealth,
  ResourcePollerListener,
  ResourcePollerOptions,
  ResourcePollerTiming,
  ResourceStatus,
} from './resource-poller.js';
export { isUpstreamError, shownUrl, UpstreamError } from './upstream-error.js';
export type { UpstreamErrorCode, UpstreamErrorInfo } from './upstream-error.js';
export { UpstreamFetcher } from './upstream-fetch.js';
export type {
  UpstreamFetchOptions,
  UpstreamFetchRequest,
  UpstreamFetchResult,
  UpstreamValidators,
} from './upstream-fetch.js';
export {
  resolverResolve,
  systemResolve,
  upstreamOrigins,
  UpstreamPolicy,
} from './upstream-policy.js';
export type {
  CheckedTarget,
  ResolvedAddress,
  ResolveHost,
  UpstreamOrigin,
  UpstreamOriginSetting,
} from './upstream-policy.js';
