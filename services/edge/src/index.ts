export { sendError, startEdgeServer } from './edge-server.js';
export type { EdgeServer, EdgeServerOptions } from './edge-server.js';
export { requireNativeUws, uwsNativeStatus } from './uws-native.js';
export type { Uws, UwsNativeStatus } from './uws-native.js';
