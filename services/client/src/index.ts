/**
 * `@fanout/client`: subscribe to fanout channels from browsers and Node.js
 * over WebSocket, SSE or long-poll, with exact resumption across reconnects.
 * The binary subprotocol is in `@fanout/client/proto`.
 */
export { Backoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { ClientOptions } from './client-options.js';
export type { ClientStatus, ConnectionState } from './client-status.js';
export { hintUrl, StaticRouter } from './edge-router.js';
export type { EdgeRouter } from './edge-router.js';
export { createClient, FanoutClient } from './fanout-client.js';
export { PlacementRouter } from './placement-router.js';
export type { PlacementRouterOptions, RouterView } from './placement-router.js';
export type { RouteAnswer, RouteMember } from './route-answer.js';
export type { FanoutEvent } from './fanout-event.js';
export { jsonWireFormat } from './json-wire-format.js';
export { StateChannel } from './state-channel.js';
export type {
  StateChannelState,
  StateOptions,
  StatePatchBody,
  StateUpdate,
} from './state-channel.js';
export type {
  StatePatchMessage,
  StateRefusedMessage,
  StateSnapshotMessage,
} from './state-frames.js';
export type {
  JsonPatchOperation,
  JsonValue,
  StateDeltaKind,
  StateDocument,
} from '@fanout/shared/portable-state';
export { StreamCursor } from './stream-cursor.js';
export { Subscription } from './subscription.js';
export type { ResetHandler, SubscribeOptions, SubscriptionState } from './subscription.js';
export { jwtExpiry } from './token-source.js';
export type { TokenProvider, TokenReason } from './token-source.js';
export type { ResetInfo, TransportName } from './transport.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-transport.js';
export type { WireFormat } from './wire-format.js';
export { FanoutError, isFanoutError } from '@fanout/shared/portable-core';
export type { ErrorCode } from '@fanout/shared/portable-core';
