/**
 * A loopback TCP proxy between one Kafka client and the test broker that can
 * delay or drop that client's traffic while other clients of the broker stay
 * healthy. With `tls`, it is a TLS listener in front of the plaintext broker,
 * the way a TLS router or an ingress in front of Kafka is: it records the
 * server name (SNI) each client sent, and its options may choose the
 * certificate by it (`SNICallback`).
 *
 * Kafka clients connect to the bootstrap address only to learn the brokers'
 * advertised addresses, then connect there. So the proxy rewrites, in every
 * response, the advertised address `<host><int32 broker port>` (the way
 * Metadata, FindCoordinator and DescribeCluster encode a host and port) to
 * `<advertisedHost><int32 proxy port>`: same length, so the frame stays
 * valid, and every later connection of the client goes through the proxy
 * too. Requests pass unchanged; responses are forwarded whole frames at a
 * time (4-byte size prefix).
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';

export type BrokerFault =
  | { readonly kind: 'none' }
  /** Every response frame waits this long (in order). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Nothing is forwarded either way; new connections are accepted and starved. */
  | { readonly kind: 'drop' };

export interface BrokerProxy {
  readonly port: number;
  /** `<advertisedHost>:<port>`, for `kafka.brokers`. */
  readonly address: string;
  /** With `tls`: the server name of every TLS connection accepted so far (false: none sent). */
  readonly servernames: () => readonly (string | false)[];
  /** Response frames whose advertised address was rewritten so far. */
  readonly rewrites: () => number;
  /** Bytes the client sent that were dropped so far. */
  readonly droppedBytes: () => number;
  /** Sets the fault; leaving `drop` closes the starved connections so the client reconnects. */
  setFault(fault: BrokerFault): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes of the current response frame not yet complete. */
  pending: Buffer;
  /** When the last delayed frame is due, so frames keep their order. */
  lastDue: number;
}

export async function startBrokerProxy(options: {
  /** Where the broker listens and what it advertises; the proxy listens there too. */
  host: string;
  brokerPort: number;
  /** The host advertised instead of `host` (as many bytes as `host`, e.g. localhost for 127.0.0.1). */
  advertisedHost?: string;
  /** Accept TLS with these options (certificate, key, `SNICallback`) instead of plain TCP. */
  tls?: TlsOptions;
}): Promise<BrokerProxy> {
  let fault: BrokerFault = { kind: 'none' };
  let rewrites = 0;
  let dropped = 0;
  const links = new Set<Link>();
  const servernames: (string | false)[] = [];
  const hostBytes = Buffer.from(options.host, 'latin1');
  const advertisedBytes = Buffer.from(options.advertisedHost ?? options.host, 'latin1');
  if (advertisedBytes.length !== hostBytes.length) {
    throw new Error(
      `advertisedHost ${options.advertisedHost} must be as long as host ${options.host}: the frames keep their size`,
    );
  }
  let from = Buffer.alloc(0);
  let to = Buffer.alloc(0);

  const rewrite = (frame: Buffer): Buffer => {
    let at = frame.indexOf(from);
    if (at < 0) return frame;
    rewrites++;
    while (at >= 0) {
      to.copy(frame, at);
      at = frame.indexOf(from, at + to.length);
    }
    return frame;
  };

  const deliver = (link: Link, frame: Buffer): void => {
    if (fault.kind === 'delay') {
      const due = Math.max(Date.now() + fault.ms, link.lastDue);
      link.lastDue = due;
      setTimeout(() => {
        if (!link.client.destroyed) link.client.write(frame);
      }, due - Date.now());
    } else if (link.lastDue > Date.now()) {
      setTimeout(() => {
        if (!link.client.destroyed) link.client.write(frame);
      }, link.lastDue - Date.now());
    } else {
      link.client.write(frame);
    }
  };

  const onResponse = (link: Link, data: Buffer): void => {
    if (fault.kind === 'drop') return;
    let buffer = link.pending.length === 0 ? data : Buffer.concat([link.pending, data]);
    while (buffer.length >= 4) {
      const size = buffer.readInt32BE(0);
      if (buffer.length < 4 + size) break;
      deliver(link, rewrite(Buffer.from(buffer.subarray(0, 4 + size))));
      buffer = buffer.subarray(4 + size);
    }
    link.pending = Buffer.from(buffer);
  };

  const onClient = (client: Socket): void => {
    const upstream = createConnection({ host: options.host, port: options.brokerPort });
    const link: Link = { client, upstream, pending: Buffer.alloc(0), lastDue: 0 };
    links.add(link);
    const end = (): void => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.on('data', (data: Buffer) => {
      if (fault.kind !== 'drop') upstream.write(data);
      else dropped += data.length;
    });
    upstream.on('data', (data: Buffer) => {
      onResponse(link, data);
    });
  };
  const server =
    options.tls === undefined
      ? createServer(onClient)
      : createTlsServer(options.tls, (client) => {
          servernames.push(typeof client.servername === 'string' ? client.servername : false);
          onClient(client);
        });
  await new Promise<void>((resolve) => server.listen(0, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  const portBytes = (value: number): Buffer => {
    const bytes = Buffer.alloc(4);
    bytes.writeInt32BE(value);
    return bytes;
  };
  from = Buffer.concat([hostBytes, portBytes(options.brokerPort)]);
  to = Buffer.concat([advertisedBytes, portBytes(port)]);
  return {
    port,
    address: `${options.advertisedHost ?? options.host}:${port}`,
    servernames: () => [...servernames],
    rewrites: () => rewrites,
    droppedBytes: () => dropped,
    setFault(next) {
      const leavingDrop = fault.kind === 'drop' && next.kind !== 'drop';
      fault = next;
      if (leavingDrop) {
        // A dropped connection has lost frames in the middle: end it.
        for (const link of [...links]) {
          link.client.destroy();
          link.upstream.destroy();
        }
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const link of links) {
          link.client.destroy();
          link.upstream.destroy();
        }
        server.close(() => {
          resolve();
        });
      }),
  };
}
