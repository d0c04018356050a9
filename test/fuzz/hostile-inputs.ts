/**
 * Hostile inputs for the fanout ports: WebSocket frames of both
 * subprotocols, HTTP requests to the edge and the ingest, and gRPC publish
 * messages. Each generator mixes valid input (to reach deep paths), input
 * near the grammar (one field wrong), random bytes, and oversized input.
 */
import { ClientFrame, PublishRequest, PublishStreamRequest } from '@fanout/shared';
import type { RandomSource } from './random-source.js';

/** encodeURIComponent of any string: lone surrogates become U+FFFD first. */
export function uriComponent(value: string): string {
  return encodeURIComponent(Buffer.from(value, 'utf8').toString('utf8'));
}

export interface Credentials {
  /** A valid JWT for the `fuzz` namespace (publish and subscribe). */
  readonly valid: string;
  /** A JWT signed with another key. */
  readonly forged: string;
  /** A valid JWT that expired. */
  readonly expired: string;
}

const printable = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:*,/%?#&=+ ';
const near = '.-_*:,0123456789azAZ%';

export function token(r: RandomSource, credentials: Credentials): string {
  switch (r.int(9)) {
    case 0:
    case 1:
    case 2:
      return credentials.valid;
    case 3:
      return credentials.forged;
    case 4:
      return credentials.expired;
    case 5:
      return '';
    case 6:
      return `${r.text(r.between(1, 40), printable)}.${r.text(r.between(1, 40), printable)}.x`;
    case 7:
      return r.text(r.between(1000, 9000), 'A');
    default:
      return r.units(r.between(1, 30));
  }
}

export function channel(r: RandomSource): string {
  switch (r.int(12)) {
    case 0:
    case 1:
    case 2:
      return `fuzz.${r.text(r.between(1, 8), 'abc')}`;
    case 3:
      return 'fuzz.*';
    case 4:
      return 'control.c';
    case 5:
      return r.pick(['', '*', '.', 'a..b', 'a.', '.a', 'fuzz.*.x', 'fuzz.**', '%2e']);
    case 6:
      return 'a'.repeat(r.between(250, 300));
    case 7:
      return `fuzz.${'b.'.repeat(r.between(100, 200))}c`;
    case 8:
      return r.units(r.between(1, 20));
    default:
      return r.text(r.between(1, 20), near);
  }
}

/** Positions and cursors: valid ones of an unknown epoch, and every way to get them wrong. */
export function position(r: RandomSource): string {
  const epoch = r.pick(['e', 'ww7w7_gUT7WHdd738IhAfQ', r.text(r.between(1, 70), near)]);
  switch (r.int(10)) {
    case 0:
    case 1:
      return `${epoch}:${r.int(4)}:${r.between(-1, 1000)}`;
    case 2:
      return `${epoch}:${r.int(4)}:${r.pick(['9007199254740992', '-2', '1e3', '01', '', '0x10'])}`;
    case 3:
      return `${epoch}:${r.pick(['2147483648', '-1', '', '4294967296'])}:1`;
    case 4:
      return `${epoch}:${Array.from({ length: r.between(2, 3000) }, (_, i) => `${i}:${i}`).join(',')}`;
    case 5:
      return `${epoch}:0:1,0:2`;
    case 6:
      return r.units(r.between(0, 30));
    default:
      return r.text(r.between(0, 40), near);
  }
}

function anyJson(r: RandomSource, depth = 0): unknown {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1.5, 2 ** 32, 2 ** 53, -(2 ** 63), 1e308]);
    case 3:
      return r.text(r.between(0, 12), printable);
    case 4:
      return r.units(r.between(0, 6));
    case 5:
      return Array.from({ length: r.int(4) }, () => anyJson(r, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--) out[r.text(r.between(1, 8), near)] = anyJson(r, depth + 1);
      return out;
    }
  }
}

/** `[[[[...` nested `depth` deep, closed or not. */
function nested(r: RandomSource, depth: number): string {
  const open = r.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  return `${open.repeat(depth)}1${r.chance(0.7) ? close.repeat(depth) : ''}`;
}

function requestId(r: RandomSource): unknown {
  return r.chance(0.8) ? r.int(1000) : anyJson(r, 3);
}

const clientFrameNames = ['connect', 'subscribe', 'unsubscribe', 'ping', 'refreshToken'];

function subscription(r: RandomSource): Record<string, unknown> {
  const out: Record<string, unknown> = { channel: r.chance(0.9) ? channel(r) : anyJson(r, 3) };
  if (r.chance(0.5)) out['since'] = r.chance(0.9) ? position(r) : anyJson(r, 3);
  if (r.chance(0.3)) out['types'] = r.chance(0.8) ? [r.text(4, 'ab.')] : anyJson(r, 3);
  return out;
}

/** One `fanout.json.v1` client frame: text (or, rarely, binary bytes on the text protocol). */
export function jsonFrame(r: RandomSource, credentials: Credentials): string | Buffer {
  switch (r.int(16)) {
    case 0:
      return JSON.stringify({ connect: { requestId: requestId(r), token: token(r, credentials) } });
    case 1:
      return JSON.stringify({
        refreshToken: { requestId: requestId(r), token: token(r, credentials) },
      });
    case 2:
    case 3:
    case 4:
      return JSON.stringify({
        subscribe: {
          requestId: requestId(r),
          subscriptions: Array.from({ length: r.int(r.chance(0.05) ? 300 : 4) }, () =>
            subscription(r),
          ),
        },
      });
    case 5:
      return JSON.stringify({
        unsubscribe: { requestId: requestId(r), channels: [channel(r), channel(r)] },
      });
    case 6:
      return JSON.stringify({ ping: { requestId: requestId(r) } });
    case 7:
      return JSON.stringify({
        [r.pick([...clientFrameNames, 'pong', 'event', '__proto__'])]: anyJson(r),
      });
    case 8:
      return JSON.stringify(anyJson(r));
    case 9:
      return nested(r, r.between(100, 20_000));
    case 10: {
      // Valid JSON cut short.
      const text = JSON.stringify({
        subscribe: { requestId: 1, subscriptions: [subscription(r)] },
      });
      return text.slice(0, r.int(text.length));
    }
    case 11:
      return r.units(r.between(0, 64));
    case 12:
      // Larger than maxMessageBytes (64 KiB), and sometimes than twice that.
      return JSON.stringify({ ping: { requestId: 1, pad: 'x'.repeat(r.pick([70_000, 140_000])) } });
    case 13:
      return r.bytes(r.between(1, 64));
    default:
      return r.text(r.between(0, 64), printable + '{}[]":');
  }
}

/** One `fanout.proto.v1` client frame: binary (or, rarely, text on the binary protocol). */
export function protoFrame(r: RandomSource, credentials: Credentials): Buffer | string {
  const since = (): { epoch: string; partition: number; offset: number } => ({
    epoch: r.pick(['e', '', r.text(r.between(1, 70), near)]),
    partition: r.pick([0, 1, 2, -1, 2 ** 31 - 1, 2 ** 32 - 1]),
    offset: r.pick([-1, 0, 5, -2, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 63)]),
  });
  const encoded = (): Buffer => {
    switch (r.int(5)) {
      case 0:
        return Buffer.from(
          ClientFrame.encode({
            connect: { requestId: r.int(1000), token: token(r, credentials) },
          }).finish(),
        );
      case 1:
        return Buffer.from(
          ClientFrame.encode({
            subscribe: {
              requestId: r.int(1000),
              subscriptions: Array.from({ length: r.int(4) }, () => ({
                channel: channel(r),
                ...(r.chance(0.5) ? { since: since() } : {}),
                types: r.chance(0.3) ? [r.text(3, 'ab')] : [],
              })),
            },
          }).finish(),
        );
      case 2:
        return Buffer.from(
          ClientFrame.encode({
            unsubscribe: { requestId: r.int(1000), channels: [channel(r)] },
          }).finish(),
        );
      case 3:
        return Buffer.from(
          ClientFrame.encode({
            refreshToken: { requestId: r.int(1000), token: token(r, credentials) },
          }).finish(),
        );
      default:
        return Buffer.from(ClientFrame.encode({ ping: { requestId: r.int(1000) } }).finish());
    }
  };
  switch (r.int(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return encoded();
    case 4:
    case 5: {
      // One byte changed, or cut short.
      const bytes = encoded();
      if (bytes.length === 0) return bytes;
      if (r.chance(0.5)) return bytes.subarray(0, r.int(bytes.length));
      bytes[r.int(bytes.length)] = r.int(256);
      return bytes;
    }
    case 6:
      // A length prefix far larger than the frame.
      return Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x01]);
    case 7:
      return r.bytes(r.pick([70_000, 140_000]));
    case 8:
      return r.text(r.between(1, 30), printable);
    default:
      return r.bytes(r.between(0, 80));
  }
}

export interface HttpInput {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** Send the body chunked, without a Content-Length. */
  readonly chunked?: boolean;
}

function query(r: RandomSource, credentials: Credentials): string {
  const parts: string[] = [];
  const add = (name: string, value: string): void => {
    parts.push(`${name}=${uriComponent(value)}`);
  };
  if (r.chance(0.6)) add('token', token(r, credentials));
  if (r.chance(0.4)) add('after', position(r));
  if (r.chance(0.3)) add('since', position(r));
  if (r.chance(0.3)) add('limit', r.pick(['0', '1', '-1', '1000000', 'x', '1.5', '']));
  if (r.chance(0.3)) add('wait', r.pick(['0', '1', '-1', '61', 'x', '']));
  if (r.chance(0.2)) add('types', r.text(r.between(0, 20), near));
  if (r.chance(0.1)) add('watch', r.pick(['true', 'false', '1']));
  if (r.chance(0.3)) add('channels', Array.from({ length: r.int(5) }, () => channel(r)).join(','));
  if (r.chance(0.05)) parts.push(r.text(r.between(1, 30), printable).replace(/[ #]/g, '%'));
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** A request to the edge's HTTP routes (plain GET, long-poll, SSE, route) or to none. */
export function edgeRequest(r: RandomSource, credentials: Credentials): HttpInput {
  const headers: Record<string, string> = {};
  if (r.chance(0.2)) headers['last-event-id'] = position(r).slice(0, 4000);
  if (r.chance(0.1)) headers['accept'] = 'text/event-stream';
  if (r.chance(0.2)) headers['authorization'] = `Bearer ${token(r, credentials)}`;
  if (r.chance(0.1)) headers['origin'] = r.pick(['https://a.example', 'null', r.text(10, near)]);
  const encodedChannel = (): string => {
    const name = channel(r);
    return r.chance(0.9)
      ? uriComponent(name)
      : r.pick(['%', '%E0%A4%A', '%ff', '%00', 'a%2Fb', '..']);
  };
  const path = r.pick([
    () => `/v1/channels/${encodedChannel()}`,
    () => `/v1/channels/${encodedChannel()}`,
    () => `/v1/stream`,
    () => `/v1/route`,
    () => `/v1/${r.text(r.between(0, 12), 'abc/.%')}`,
    () => `/${r.text(r.between(0, 20), 'abc/.%')}`,
  ])();
  return {
    method: r.pick(['GET', 'GET', 'GET', 'GET', 'OPTIONS', 'POST', 'HEAD', 'DELETE', 'PATCH']),
    path: `${path}${query(r, credentials)}`,
    headers,
  };
}

function eventObject(r: RandomSource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.chance(0.7)) out['data'] = anyJson(r);
  if (r.chance(0.2))
    out['dataBase64'] = r.pick(['AAAA', 'not base64!', '====', r.text(8, 'AZ09+/=')]);
  if (r.chance(0.3))
    out['type'] = r.chance(0.8) ? r.text(r.between(0, 20), 'ab.:/') : anyJson(r, 3);
  if (r.chance(0.2))
    out['contentType'] = r.pick(['text/plain', 'x', '', 'a/b; c=ü', anyJson(r, 3)]);
  if (r.chance(0.3)) {
    out['headers'] = r.chance(0.8)
      ? { [r.text(r.between(0, 70), 'ab._-!')]: r.chance(0.8) ? r.units(r.between(0, 40)) : 1 }
      : anyJson(r, 3);
  }
  if (r.chance(0.2))
    out['id'] = r.chance(0.8) ? r.text(r.between(0, 140), 'ab:~.-!') : anyJson(r, 3);
  if (r.chance(0.05)) out[r.text(4, 'xyz')] = 1;
  return out;
}

/** A publish request to the ingest's HTTP API, or to paths and methods it does not serve. */
export function ingestRequest(r: RandomSource, credentials: Credentials): HttpInput {
  const headers: Record<string, string> = {
    'content-type': r.pick([
      'application/json',
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      '',
      'application/JSON',
    ]),
  };
  const auth = r.int(6);
  if (auth < 3) headers['authorization'] = `Bearer ${token(r, credentials)}`;
  else if (auth === 3) headers['x-api-key'] = r.text(r.between(0, 50), printable);
  else if (auth === 4) headers['authorization'] = r.text(r.between(0, 50), printable);
  if (r.chance(0.1)) headers['idempotency-key'] = r.text(r.between(0, 150), 'ab:~.-!');
  let body: Buffer;
  switch (r.int(10)) {
    case 0:
    case 1:
    case 2:
      body = Buffer.from(JSON.stringify(eventObject(r)));
      break;
    case 3:
      body = Buffer.from(
        JSON.stringify({
          events: Array.from({ length: r.chance(0.05) ? 20 : r.int(4) }, () => eventObject(r)),
        }),
      );
      break;
    case 4:
      body = Buffer.from(JSON.stringify(anyJson(r)));
      break;
    case 5:
      body = Buffer.from(nested(r, r.between(100, 50_000)));
      break;
    case 6:
      // One event over this run's 64 KiB, or a body over its request limit
      // (10 events of 4/3 × 64 KiB + 4 KiB, plus 4 KiB: 918,876 bytes).
      body = Buffer.from(JSON.stringify({ data: 'x'.repeat(r.pick([70_000, 1_000_000])) }));
      break;
    case 7:
      body = r.bytes(r.between(0, 200));
      break;
    default:
      body = Buffer.from(JSON.stringify(eventObject(r)).slice(0, r.between(0, 30)));
  }
  const channelPath = r.chance(0.9)
    ? uriComponent(channel(r))
    : r.pick(['%', '%E0%A4%A', '%ff', 'a%2Fb', '']);
  return {
    method: r.pick(['POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'OPTIONS', 'PUT']),
    path: r.chance(0.95)
      ? `/v1/channels/${channelPath}/events`
      : `/${r.text(r.between(0, 20), 'abc/.%')}`,
    headers,
    body,
    chunked: r.chance(0.2),
  };
}

/** The bytes of one gRPC Publish or PublishStream request message. */
export function grpcMessage(r: RandomSource, stream: boolean): Buffer {
  const events = (): object[] =>
    Array.from({ length: r.chance(0.02) ? 20 : r.int(4) }, () => ({
      channel: channel(r),
      ...(r.chance(0.5) ? { data: r.bytes(r.int(100)) } : {}),
      ...(r.chance(0.3) ? { type: r.text(r.between(0, 140), 'ab.:/!') } : {}),
      ...(r.chance(0.3) ? { contentType: r.pick(['text/plain', 'x', 'a/b; c=ü', '']) } : {}),
      ...(r.chance(0.2)
        ? { headers: { [r.text(r.between(0, 70), 'ab._-!')]: r.units(r.between(0, 30)) } }
        : {}),
      ...(r.chance(0.2) ? { id: r.text(r.between(0, 140), 'ab:~.-!') } : {}),
    }));
  const encoded = (): Buffer =>
    Buffer.from(
      stream
        ? PublishStreamRequest.encode({ sequence: r.int(100), event: events()[0] ?? null }).finish()
        : PublishRequest.encode({ events: events() }).finish(),
    );
  switch (r.int(6)) {
    case 0:
    case 1:
    case 2:
      return encoded();
    case 3: {
      const bytes = encoded();
      if (bytes.length > 0) bytes[r.int(bytes.length)] = r.int(256);
      return bytes;
    }
    case 4:
      return Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    default:
      return r.bytes(r.between(0, 100));
  }
}

/** Bytes written straight to a TCP connection of an HTTP port: broken requests. */
export function rawHttp(r: RandomSource): Buffer {
  switch (r.int(6)) {
    case 0:
      return Buffer.from(
        `GET /v1/channels/a HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(r.between(1, 3000))}\r\n`,
      );
    case 1:
      return Buffer.from(
        `${r.text(r.between(1, 10), 'GETPOS')} ${r.text(r.between(1, 40), printable)} HTTP/1.1\r\n\r\n`,
      );
    case 2:
      return Buffer.from(
        'POST /v1/channels/a/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{',
      );
    case 3:
      return Buffer.from(
        'POST /v1/channels/a/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n',
      );
    case 4:
      return Buffer.from(
        `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: ${r.pick(['13', '8', 'x'])}\r\nSec-WebSocket-Key: ${r.text(r.between(0, 30), printable)}\r\nSec-WebSocket-Protocol: ${r.pick(['fanout.json.v1', 'fanout.proto.v1', 'x', ''])}\r\n\r\n`,
      );
    default:
      return r.bytes(r.between(1, 300));
  }
}
