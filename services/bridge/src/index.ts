/**
 * `@fanout/bridge`: live resources. Polls JSON REST resources of allowed
 * upstream origins and reports each changed answer, to be published as the
 * state of a state channel.
 */
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
