/**
 * A WebSocket of one subprotocol (`fanout.json.v1` or `fanout.proto.v1`)
 * whose frames are written and read with the shared codecs, so a test speaks
 * in `ClientMessage` / `ServerMessage` whatever the wire format.
 */
import assert from 'node:assert/strict';
import {
  wsJsonCodec,
  wsProtoCodec,
  type ClientMessage,
  type ServerMessage,
  type SubscriptionRequest,
} from '@fanout/shared';
import { TestSocket } from './edge-harness.js';

export type CodecFormat = 'json' | 'proto';

export class CodecSocket {
  readonly socket: TestSocket;
  readonly format: CodecFormat;

  private constructor(socket: TestSocket, format: CodecFormat) {
    this.socket = socket;
    this.format = format;
  }

  /** Opens a socket to `edge.wsUrl` and takes its `connected` frame. */
  static async open(edge: { readonly wsUrl: string }, format: CodecFormat): Promise<CodecSocket> {
    const socket = new TestSocket(
      edge.wsUrl,
      format === 'json' ? wsJsonCodec.subprotocol : wsProtoCodec.subprotocol,
    );
    await socket.opened;
    const opened = new CodecSocket(socket, format);
    const [connected] = await opened.take(1, () => true);
    assert.equal(connected?.kind, 'connected');
    return opened;
  }

  send(message: ClientMessage): void {
    this.socket.socket.send(
      this.format === 'json'
        ? wsJsonCodec.encodeClientFrame(message)
        : wsProtoCodec.encodeClientFrame(message),
    );
  }

  subscribe(requestId: number, subscriptions: readonly SubscriptionRequest[]): void {
    this.send({ kind: 'subscribe', requestId, subscriptions });
  }

  /** The next `count` frames `accept` takes, in order (the others are dropped). */
  take(count: number, accept: (message: ServerMessage) => boolean): Promise<ServerMessage[]> {
    return this.socket.take(count, (frame) => {
      const message =
        this.format === 'json'
          ? wsJsonCodec.decodeServerFrame(frame.data.toString('utf8'))
          : wsProtoCodec.decodeServerFrame(new Uint8Array(frame.data));
      return accept(message) ? message : undefined;
    });
  }

  /** The next frame, whatever it is. */
  async next(): Promise<ServerMessage> {
    const [message] = await this.take(1, () => true);
    assert.ok(message);
    return message;
  }

  /** The positions of the next `count` events (single event frames). */
  async events(count: number): Promise<string[]> {
    const taken = await this.take(count, (message) => message.kind === 'event');
    return taken.map((message) => (message.kind === 'event' ? message.event.position : ''));
  }

  close(): void {
    this.socket.close();
  }
}
