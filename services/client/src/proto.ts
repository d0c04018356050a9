/**
 * `@fanout/client/proto`: the binary WebSocket subprotocol `fanout.proto.v1`.
 * A separate entry point so that protobufjs is bundled only by applications
 * that use it: `createClient({ wireFormat: protoWireFormat, ... })`.
 */
export { decodeProtoFrame, encodeProtoFrame, protoWireFormat } from './proto-wire-format.js';
