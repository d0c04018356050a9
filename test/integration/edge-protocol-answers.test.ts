/**
 * What the edge answers to broken or silent clients, against a real broker,
 * ingest and edge, over raw TCP so nothing is smoothed over by a client
 * library: an idle WebSocket gets `disconnect` and close 4001
 * `idle_timeout` (a client that answers pings is never idle), a text frame
 * that is not UTF-8 ends the socket, and malformed HTTP request lines
 * (absolute URI, HTTP/0.9, NUL in a header) are closed within uWS's request
 * timeout, without a route ever seeing them, while others are served.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startEdgeStack, TestSocket, type EdgeStack } from '../support/index.js';
import { metricValue, publishEvent, uniqueChannel } from '../support/edge-test-clients.js';

const idleTimeoutSeconds = 8;

interface RawFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/**
 * A WebSocket over a plain socket that never answers pings (unless told
 * to), records every frame and how the TCP connection ended.
 */
class SilentSocket {
  readonly frames: RawFrame[] = [];
  readonly socket: Socket;
  readonly opened: Promise<void>;
  readonly ended: Promise<void>;
  #buffer = Buffer.alloc(0);
  #open = false;

  constructor(port: number, protocol: string) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.ended = new Promise((resolve) =>
      this.socket.once('close', () => {
        resolve();
      }),
    );
    this.socket.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.socket.write(
          `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
            `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
        );
      });
      this.socket.on('data', (chunk: Buffer) => {
        this.#buffer = Buffer.concat([this.#buffer, chunk]);
        if (!this.#open) {
          const end = this.#buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = this.#buffer.subarray(0, end).toString('latin1');
          if (!head.startsWith('HTTP/1.1 101')) {
            reject(new Error(head));
            return;
          }
          this.#open = true;
          this.#buffer = this.#buffer.subarray(end + 4);
          resolve();
        }
        this.#parse();
      });
    });
  }

  #parse(): void {
    for (;;) {
      if (this.#buffer.length < 2) return;
      let length = (this.#buffer[1] ?? 0) & 0x7f;
      let header = 2;
      if (length === 126) {
        if (this.#buffer.length < 4) return;
        length = this.#buffer.readUInt16BE(2);
        header = 4;
      } else if (length === 127) {
        if (this.#buffer.length < 10) return;
        length = Number(this.#buffer.readBigUInt64BE(2));
        header = 10;
      }
      if (this.#buffer.length < header + length) return;
      this.frames.push({
        opcode: (this.#buffer[0] ?? 0) & 0x0f,
        payload: Buffer.from(this.#buffer.subarray(header, header + length)),
      });
      this.#buffer = this.#buffer.subarray(header + length);
    }
  }

  /** A masked frame (FIN set) with this opcode and payload. */
  send(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] ?? 0) ^ (mask[i & 3] ?? 0);
    this.socket.write(
      Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | masked.length]), mask, masked]),
    );
  }

  /** The status code of the close frame received, if one was. */
  closeCode(): number | undefined {
    const close = this.frames.find((frame) => frame.opcode === 8);
    return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
  }

  texts(): Record<string, Record<string, unknown>>[] {
    return this.frames
      .filter((frame) => frame.opcode === 1)
      .map(
        (frame) =>
          JSON.parse(frame.payload.toString('utf8')) as Record<string, Record<string, unknown>>,
      );
  }
}

/** Sends raw bytes; resolves with what came back and how long the socket stayed open. */
function rawRequest(port: number, bytes: string): Promise<{ answer: string; openMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes, 'latin1'));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      resolve({ answer, openMs: Date.now() - started });
    });
  });
}

describe('edge answers to broken and silent clients', () => {
  let stack: EdgeStack;

  before(async () => {
    stack = await startEdgeStack({
      name: 'edge-protocol-answers',
      partitions: 1,
      edgeEnv: { FANOUT_EDGE_IDLE_TIMEOUT_SECONDS: String(idleTimeoutSeconds) },
    });
  });

  after(() => stack.stop());

  it('pings a silent WebSocket, then sends disconnect and closes it with 4001 idle_timeout', async () => {
    const before = await metricValue(stack.edge.registry, 'fanout_edge_closes_total', {
      code: 'idle_timeout',
    });
    const silent = new SilentSocket(stack.edge.app.port, 'fanout.json.v1');
    await silent.opened;
    const opened = Date.now();
    // A client that answers pings (ws does) is never idle.
    const alive = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await alive.opened;
    await silent.ended;
    const silentFor = Date.now() - opened;
    assert.ok(
      silent.frames.some((frame) => frame.opcode === 9),
      'pinged before the close',
    );
    assert.equal(silent.closeCode(), 4001);
    const disconnect = silent.texts().find((frame) => 'disconnect' in frame)?.['disconnect'];
    assert.equal(disconnect?.['code'], 'idle_timeout');
    assert.equal(disconnect['closeCode'], 4001);
    assert.equal(disconnect['action'], 'resume');
    assert.ok(silentFor >= idleTimeoutSeconds * 1000 - 1000, `closed after ${silentFor} ms`);
    assert.equal(
      await metricValue(stack.edge.registry, 'fanout_edge_closes_total', { code: 'idle_timeout' }),
      before + 1,
    );
    // Past the idle time, the client that answered pings still receives.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, opened + (idleTimeoutSeconds + 2) * 1000 - Date.now())),
    );
    const channel = uniqueChannel('idle');
    alive.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    await alive.takeJson('subscribed');
    const position = await publishEvent(stack.ingest, channel);
    const [event] = await alive.takeJson('event');
    assert.equal(event?.['position'], position);
    assert.equal(alive.closeCode, undefined);
    alive.close();
    await alive.closed;
  });

  it('ends a WebSocket that sends a text frame that is not UTF-8, and serves the others', async () => {
    const before = await metricValue(stack.edge.registry, 'fanout_edge_abrupt_closes_total');
    const bad = new SilentSocket(stack.edge.app.port, 'fanout.json.v1');
    await bad.opened;
    bad.send(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    await bad.ended;
    // uWebSockets.js checks UTF-8 itself and drops the socket without a
    // close frame (docs/reference/protocol.md): a client sees 1006.
    assert.equal(bad.closeCode(), undefined);
    assert.equal(
      await metricValue(stack.edge.registry, 'fanout_edge_abrupt_closes_total'),
      before + 1,
    );
    const good = new SilentSocket(stack.edge.app.port, 'fanout.json.v1');
    await good.opened;
    good.send(1, Buffer.from(JSON.stringify({ ping: { requestId: 7 } }), 'utf8'));
    const deadline = Date.now() + 10_000;
    while (!good.texts().some((frame) => 'pong' in frame) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(
      good.texts().find((frame) => 'pong' in frame),
      { pong: { requestId: 7 } },
    );
    good.socket.destroy();
  });

  it('closes malformed HTTP requests without routing them, and serves well-formed ones meanwhile', async () => {
    const port = stack.edge.app.port;
    const before = await metricValue(stack.edge.registry, 'fanout_edge_http_requests_total', {
      route: 'channel',
      status: '200',
    });
    const malformed = await Promise.all([
      rawRequest(port, `GET http://127.0.0.1:${port}/v1/channels/a.b HTTP/1.1\r\nHost: x\r\n\r\n`),
      rawRequest(port, 'GET /v1/channels/a.b\r\n\r\n'),
      rawRequest(port, 'GET /v1/channels/a.b HTTP/1.1\r\nHost: x\r\nX-Evil: a\0b\r\n\r\n'),
      (async () => {
        // Meanwhile a well-formed request is answered at once.
        const response = await fetch(`${stack.edge.httpBase}/v1/channels/a.b`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
        return { answer: 'served', openMs: 0 };
      })(),
    ]);
    for (const { answer, openMs } of malformed.slice(0, 3)) {
      // uWebSockets.js's parser answers nothing and closes the socket at its
      // request timeout (10 s, checked every 4 s).
      assert.equal(answer, '');
      assert.ok(openMs < 20_000, `closed after ${openMs} ms`);
    }
    assert.equal(
      await metricValue(stack.edge.registry, 'fanout_edge_http_requests_total', {
        route: 'channel',
        status: '200',
      }),
      before + 1,
      'only the well-formed request reached a route',
    );
  });
});
