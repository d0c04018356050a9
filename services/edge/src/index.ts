export { startEdgeApp } from './edge-app.js';
export type { EdgeApp, EdgeAppOptions } from './edge-app.js';
export { startEdgeServer } from './edge-server.js';
export type { EdgeServer, EdgeServerOptions } from './edge-server.js';
export { parseStreamCursor, formatStreamCursor } from './stream-cursor.js';
export type { StreamCursor } from './stream-cursor.js';
export { requireNativeUws, uwsNativeStatus } from './uws-native.js';
export type { Uws, UwsNativeStatus } from './uws-native.js';
