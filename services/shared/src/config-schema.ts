/**
 * The one configuration schema of every fanout service. It yields the
 * TypeScript type, the validator (with a message per bad value), the
 * reference table in docs/reference/configuration.md and the JSON Schema the
 * Helm chart's values are checked against.
 *
 * Every leaf has a default and a description. Environment variable names are
 * derived from the path: `kafka.clientId` → `FANOUT_KAFKA_CLIENT_ID`.
 */
import { z } from 'zod';
import { isValidChannel } from './channel.js';
import { parseArrayKey } from './state/array-key.js';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const host = z.string().min(1);
/** `host:port` or `[ipv6]:port`, port 1-65535. */
const brokerPattern = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;
const broker = z.string().refine(
  (value) => {
    const port = Number(brokerPattern.exec(value)?.[1] ?? 0);
    return port >= 1 && port <= 65535;
  },
  { error: 'must be host:port with a port from 1 to 65535, e.g. kafka-0.kafka:9092' },
);

/** `scheme://host[:port]` exactly as URL#origin writes it: http(s), no path, no user. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
}
const bridgeOrigin = z.string().refine(isOrigin, {
  error:
    'must be an origin as scheme://host[:port], http or https, lower case, without a path or a default port, e.g. https://api.example.com',
});
/** Headers the bridge sets itself, or that belong to one connection: never configured. */
const bridgeManagedHeaders = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'accept-encoding',
  'if-none-match',
  'if-modified-since',
]);
const bridgeHeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name')
  .refine((name) => !bridgeManagedHeaders.has(name.toLowerCase()), {
    error: 'is set by the bridge itself (or belongs to one connection)',
  });
const bridgeHeaderValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must be a header value');
/** The shared secret of lease requests (edge.resources.bridgeToken, bridge.leaseToken). */
const leaseToken = z
  .string()
  .default('')
  .refine((value) => value === '' || /^[\x21-\x7e]{16,512}$/.test(value), {
    error: 'must be empty or 16 to 512 visible ASCII characters',
  });
const bridgeChannel = z.string().refine(isValidChannel, {
  error: 'must be a channel name: dot-separated segments of [A-Za-z0-9_-], 1-255 characters',
});
const bridgeResource = z
  .object({
    channel: bridgeChannel,
    url: z.string().refine((value) => URL.canParse(value), { error: 'must be an absolute URL' }),
    intervalMs: positiveInt.min(100).max(86400000).optional(),
    headers: z.record(bridgeHeaderName, bridgeHeaderValue).default({}),
    statusChannel: bridgeChannel.optional(),
    arrayKey: z
      .string()
      .superRefine((pointer, context) => {
        const parsed = parseArrayKey(pointer);
        if ('problem' in parsed) context.addIssue({ code: 'custom', message: parsed.problem });
      })
      .optional(),
  })
  .strict();
const bridgeOriginEntry = z
  .object({
    origin: bridgeOrigin,
    allowPrivate: z.boolean().default(false),
    forwardHeaders: z.array(bridgeHeaderName).default([]),
    headers: z
      .record(
        bridgeHeaderName,
        z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must be a header value'),
      )
      .default({}),
  })
  .strict();

export const configSchema = z.object({
  log: z
    .object({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info')
        .describe('Minimum level of the JSON log lines written to stdout.'),
    })
    .prefault({})
    .describe('Logging.'),
  kafka: z
    .object({
      brokers: z
        .array(broker)
        .min(1)
        .default(['127.0.0.1:9092'])
        .describe('Bootstrap servers, comma-separated host:port list.'),
      clientId: z
        .string()
        .min(1)
        .default('fanout')
        .describe('Kafka client id prefix; the service name is appended.'),
      topic: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name')
        .default('fanout.events')
        .describe('Topic that holds every channel; the channel is the record key.'),
      partitions: positiveInt
        .max(10000)
        .default(12)
        .describe('Partitions of the topic when ingest creates it.'),
      replicationFactor: positiveInt
        .max(16)
        .default(1)
        .describe('Replication factor of the topic when ingest creates it (3 in production).'),
      ssl: z
        .boolean()
        .default(false)
        .describe(
          "Connect to the brokers over TLS, verified with Node.js' CA store (a private CA is added with `NODE_EXTRA_CA_CERTS`); the broker's host name is sent as SNI unless a broker is addressed by IP.",
        ),
      saslMechanism: z
        .enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512'])
        .default('none')
        .describe('SASL mechanism; `none` disables SASL.'),
      saslUsername: z.string().default('').describe('SASL user name.'),
      saslPassword: z
        .string()
        .default('')
        .describe('SASL password (pass it from a Secret, not a ConfigMap).'),
      connectionTimeoutMs: positiveInt
        .max(120000)
        .default(3000)
        .describe('Timeout of a TCP connection to a broker, in milliseconds.'),
      requestTimeoutMs: positiveInt
        .max(300000)
        .default(10000)
        .describe('Timeout of one Kafka request, in milliseconds.'),
      compression: z
        .enum(['none', 'gzip'])
        .default('none')
        .describe('Compression of produced record batches.'),
    })
    .superRefine((kafka, context) => {
      if (kafka.saslMechanism === 'none') return;
      for (const key of ['saslUsername', 'saslPassword'] as const) {
        if (kafka[key] === '') {
          context.addIssue({
            code: 'custom',
            path: [key],
            message: `must be set when saslMechanism is ${kafka.saslMechanism}`,
          });
        }
      }
    })
    .prefault({})
    .describe('Kafka connection and topic.'),
  telemetry: z
    .object({
      metricsHost: host
        .default('127.0.0.1')
        .describe(
          'Address of the internal HTTP server for /metrics, /livez and /readyz (0.0.0.0 in a cluster).',
        ),
      metricsPort: port
        .default(9464)
        .describe('Port of the internal HTTP server; 0 picks a free port.'),
      serviceName: z
        .string()
        .default('')
        .describe(
          'service.name of traces, logs and metrics; empty uses fanout-ingest / fanout-edge.',
        ),
      tracing: z
        .object({
          exporter: z
            .enum(['none', 'otlp', 'console'])
            .default('none')
            .describe(
              'Where OpenTelemetry traces go: nowhere, an OTLP/HTTP collector, or stdout. W3C trace context is propagated either way.',
            ),
          endpoint: z
            .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
            .default('http://127.0.0.1:4318/v1/traces')
            .describe('OTLP/HTTP traces endpoint, used when the exporter is otlp.'),
          sampleRatio: z
            .number()
            .min(0)
            .max(1)
            .default(1)
            .describe(
              'Fraction of new traces sampled, 0 to 1; spans with a sampled parent are always kept.',
            ),
        })
        .prefault({})
        .describe('Tracing.'),
    })
    .prefault({})
    .describe('Metrics, traces and the internal HTTP port.'),
  auth: z
    .object({
      jwtHs256Secret: z
        .string()
        .default('')
        .describe(
          'Shared secret of HS256 bearer tokens (pass it from a Secret); empty disables HS256. May be set together with jwtPublicKeyFile and jwksUrl (a migration from a secret to keys): an HS256 token is checked with this secret only, never with a public key.',
        ),
      jwtPublicKeyFile: z
        .string()
        .default('')
        .describe(
          "PEM public key file (RSA: RS256, EC P-256: ES256) that verifies bearer tokens of its algorithm; an unreadable file or one that is no such key stops start-up. With jwksUrl too, a token of the key's algorithm whose signature the key does not match is checked with the JWKS.",
        ),
      jwksUrl: z
        .string()
        .default('')
        .describe(
          'http(s) URL of a JWKS whose keys verify RS256, ES256 and EdDSA bearer tokens (by `kid`). Fetched at first use, one fetch at a time (callers wait on it, at most jwksTimeoutMs), again at the first use after jwksMaxAgeSeconds (the old keys verify meanwhile), and for a token with an unknown `kid` at most once per jwksCooldownSeconds (an unknown `kid` within the cooldown is refused without a fetch). A failed fetch keeps the last keys fetched: a key removed from the set stays valid until a fetch succeeds without it. Before any fetch succeeded, and for an unknown `kid` while the last fetch failed, tokens are refused `unavailable` (retry), not `unauthenticated`.',
        ),
      jwksCooldownSeconds: z
        .number()
        .int()
        .min(1)
        .max(3600)
        .default(30)
        .describe(
          'Least time between the end of one JWKS fetch (successful or not) and the start of the next: how soon a token signed with a new `kid` can be accepted, and the most fetches (one per cooldown) clients with unknown key ids can cause.',
        ),
      jwksMaxAgeSeconds: z
        .number()
        .int()
        .min(1)
        .default(600)
        .describe(
          'Age after which the JWKS is fetched again, at the next token (which the keys held still verify): a key removed from the set is refused once that fetch succeeded.',
        ),
      jwksTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(60000)
        .default(5000)
        .describe(
          'Most time one JWKS fetch may take (connect, answer, body of at most 1 MiB); a token waiting for the keys waits no longer.',
        ),
      issuer: z
        .string()
        .default('')
        .describe('Required `iss` of bearer tokens; empty accepts any.'),
      audience: z
        .string()
        .default('')
        .describe('Required `aud` of bearer tokens; empty accepts any.'),
    })
    .prefault({})
    .describe(
      'Bearer token (JWT) verification, shared by ingest and edge; every key set is used, the token `alg` chooses which.',
    ),
  ingest: z
    .object({
      host: host.default('127.0.0.1').describe('Address the gRPC and HTTP servers bind to.'),
      grpcPort: port.default(50051).describe('gRPC port (IngestService, health, reflection).'),
      httpPort: port.default(8080).describe('HTTP JSON publish port.'),
      corsOrigins: z
        .array(z.string().min(1))
        .default([])
        .describe(
          'Origins whose web pages may publish over HTTP (CORS; exact `https://app.example.com`, `*` for any); empty sends no CORS headers.',
        ),
      maxEventBytes: positiveInt
        .max(16 * 1024 * 1024)
        .default(1024 * 1024)
        .describe('Largest accepted event (data plus headers), in bytes.'),
      maxBatchEvents: positiveInt
        .max(100000)
        .default(1000)
        .describe('Most events in one Publish call.'),
      maxRequestBytes: positiveInt
        .min(64 * 1024)
        .max(64 * 1024 * 1024)
        .default(16 * 1024 * 1024)
        .describe(
          'Cap on one gRPC Publish message or HTTP body, in bytes. The limit applied is the smaller of this and what maxBatchEvents events of maxEventBytes need (4/3 of maxEventBytes plus 4 KiB per event, for base64 in JSON); larger requests get event_too_large before they are read. Must hold one event of maxEventBytes.',
        ),
      maxPendingBytes: positiveInt
        .default(256 * 1024 * 1024)
        .describe(
          'Memory budget of the whole process for publish requests being read, decoded or waiting for Kafka, in estimated bytes (2 per gRPC message byte plus 512 per event, 3 per HTTP body byte plus 32 per JSON token); beyond it calls get rate_limited (gRPC RESOURCE_EXHAUSTED, HTTP 429 with Retry-After).',
        ),
      maxPendingBytesPerConnection: positiveInt
        .default(128 * 1024 * 1024)
        .describe(
          'The same budget for one gRPC or HTTP connection; at least 3 times maxRequestBytes. A request that alone needs more gets event_too_large.',
        ),
      kafkaProbeIntervalMs: positiveInt
        .min(100)
        .max(600000)
        .default(2000)
        .describe(
          'How often an ingest that has had no Kafka acknowledgement for this long asks the broker for metadata on its producer connection; when the broker does not answer, /readyz and gRPC health turn not ready until it does.',
        ),
      kafkaProbeTimeoutMs: positiveInt
        .min(100)
        .max(60000)
        .default(2000)
        .describe('How long the broker has to answer one readiness probe.'),
      allowedContentTypes: z
        .array(z.string().min(1))
        .default(['*'])
        .describe('Accepted content types of event data; `*` accepts any.'),
      requestTimeoutMs: positiveInt
        .max(300000)
        .default(30000)
        .describe('Deadline of a publish that does not set one (gRPC) and of every HTTP publish.'),
      maxInFlightEvents: positiveInt
        .default(200000)
        .describe(
          'Events accepted and not yet acknowledged by Kafka; beyond it publishes get rate_limited.',
        ),
      streamWindow: positiveInt
        .max(100000)
        .default(2000)
        .describe('Unacknowledged events per PublishStream before the server stops reading it.'),
      grpcReceiveWindowBytes: positiveInt
        .min(65535)
        .max(2 ** 31 - 1)
        .default(4 * 1024 * 1024)
        .describe(
          'HTTP/2 receive window the gRPC server grants each connection and stream, in bytes; 65535 keeps the HTTP/2 default.',
        ),
      kafkaBatchMaxEvents: positiveInt
        .max(100000)
        .default(10000)
        .describe('Most events merged into one Kafka produce request.'),
      kafkaMaxInFlightRequests: positiveInt
        .max(5)
        .default(5)
        .describe(
          'Kafka produce requests in flight at once; a partition keeps its order at any value (idempotent producer, at most 5).',
        ),
      idempotencyWindowSeconds: z
        .number()
        .int()
        .min(0)
        .max(86400)
        .default(300)
        .describe('How long a producer-supplied event id is remembered; 0 disables deduplication.'),
      idempotencyMaxEntries: z
        .number()
        .int()
        .min(0)
        .default(200000)
        .describe('Most remembered event ids per ingest process; the oldest are forgotten first.'),
      authRequired: z
        .boolean()
        .default(false)
        .describe(
          'Refuse producers without credentials (an API key or a bearer JWT). Off: they publish as `anonymous` anywhere.',
        ),
      apiKeysFile: z
        .string()
        .default('')
        .describe(
          'JSON file of producer identities: [{"name", "sha256" (or "key", or "certificateSubject"), "namespaces": [...]}]. Mount it from a Secret.',
        ),
      jwtNamespacesClaim: z
        .string()
        .min(1)
        .default('fanout_publish')
        .describe('JWT claim listing the channel namespaces a producer may publish to.'),
      rateLimitEventsPerSecond: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe('Events per second each producer may publish; 0 disables the limit.'),
      rateLimitBurst: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'Events a producer may publish at once above its rate; 0 means one second worth.',
        ),
      shutdownTimeoutMs: positiveInt
        .max(600000)
        .default(25000)
        .describe('Longest drain on SIGTERM before in-flight calls are failed.'),
      tls: z
        .object({
          certFile: z
            .string()
            .default('')
            .describe(
              'PEM certificate (chain) of the gRPC and HTTP servers; with keyFile they serve TLS only (gRPC over TLS, HTTPS). Empty: plaintext.',
            ),
          keyFile: z.string().default('').describe('PEM private key of certFile.'),
          clientCaFile: z
            .string()
            .default('')
            .describe(
              'PEM CA certificates that sign client certificates. When set, every connection must present a client certificate they verify (mutual TLS). Needs certFile.',
            ),
        })
        .superRefine((tls, context) => {
          if ((tls.certFile === '') !== (tls.keyFile === '')) {
            const missing = tls.certFile === '' ? 'certFile' : 'keyFile';
            const other = missing === 'certFile' ? 'keyFile' : 'certFile';
            context.addIssue({
              code: 'custom',
              path: [missing],
              message: `must be set when ${other} is set`,
            });
          }
          if (tls.clientCaFile !== '' && tls.certFile === '') {
            context.addIssue({
              code: 'custom',
              path: ['certFile'],
              message: 'must be set when clientCaFile is set (client certificates need TLS)',
            });
          }
        })
        .prefault({})
        .describe('TLS of the gRPC and HTTP servers.'),
    })
    .superRefine((ingest, context) => {
      if (ingest.grpcPort !== 0 && ingest.grpcPort === ingest.httpPort) {
        context.addIssue({
          code: 'custom',
          path: ['httpPort'],
          message: `must differ from grpcPort (${ingest.grpcPort})`,
        });
      }
      const oneEvent = Math.ceil((ingest.maxEventBytes * 4) / 3) + 4096;
      if (ingest.maxRequestBytes < oneEvent) {
        context.addIssue({
          code: 'custom',
          path: ['maxRequestBytes'],
          message: `must hold one event of maxEventBytes (${ingest.maxEventBytes}): at least ${oneEvent}`,
        });
      }
      if (ingest.maxPendingBytesPerConnection < 3 * ingest.maxRequestBytes) {
        context.addIssue({
          code: 'custom',
          path: ['maxPendingBytesPerConnection'],
          message: `must be at least 3 times maxRequestBytes (${3 * ingest.maxRequestBytes})`,
        });
      }
      if (ingest.maxPendingBytes < ingest.maxPendingBytesPerConnection) {
        context.addIssue({
          code: 'custom',
          path: ['maxPendingBytes'],
          message: `must be at least maxPendingBytesPerConnection (${ingest.maxPendingBytesPerConnection})`,
        });
      }
    })
    .prefault({})
    .describe('Ingest service.'),
  edge: z
    .object({
      host: host.default('127.0.0.1').describe('Address the WebSocket/HTTP server binds to.'),
      port: port.default(8081).describe('WebSocket, SSE and HTTP port.'),
      maxConnections: positiveInt
        .default(100000)
        .describe('Most concurrent client connections on one edge.'),
      maxConnectionsPerAddress: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'Most WebSockets and SSE streams from one client address on one edge; 0 is no limit. Behind a proxy, set clientAddressHeader too, or every client shares the proxy address.',
        ),
      maxConnectionsPerSubject: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'Most WebSockets and SSE streams with one token subject (`sub`) on one edge; 0 is no limit. Anonymous clients only count against their address.',
        ),
      clientAddressHeader: z
        .string()
        .regex(/^$|^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
        .default('')
        .describe(
          "Header whose last comma-separated entry is the client address (`x-forwarded-for` behind a proxy that appends to it, `x-real-ip`); repeated lines of the header are one list in order, so a line a client sends before the proxy's does not count. Empty: the peer address of the socket. Set it only behind a proxy that sets the header, or clients choose their own address.",
        ),
      subscribeRatePerSecond: z
        .number()
        .min(0)
        .default(20)
        .describe(
          'Subscriptions one WebSocket may add per second, after a first burst of maxSubscriptionsPerConnection; over it a subscribe is answered `rate_limited` with the delay. 0 is no limit.',
        ),
      connectTimeoutMs: positiveInt
        .min(1000)
        .max(600000)
        .default(10000)
        .describe(
          'With edge.authRequired, a WebSocket opened without a token must authenticate with a Connect frame within this time, or it is closed with 4401 `unauthenticated` (pings do not extend it).',
        ),
      idleTimeoutSeconds: z
        .number()
        .int()
        .min(8)
        .max(960)
        .default(120)
        .describe('Close a WebSocket that sent nothing for this long (pings count).'),
      maxBackpressureBytes: positiveInt
        .default(1024 * 1024)
        .describe('Bytes buffered for one slow client before it is closed resumably.'),
      batchMaxBytes: positiveInt
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(64 * 1024)
        .describe(
          'Largest batch frame for WebSocket clients of the subprotocols `fanout.json.v2` and `fanout.proto.v2`: the events of one delivery (a Kafka fetch, a catch-up chunk) for one subscriber go out in frames of at most this many bytes (an event larger than it goes alone).',
        ),
      replayBufferEvents: z
        .number()
        .int()
        .min(0)
        .default(10000)
        .describe('Recent events kept in memory per partition for hot replay.'),
      warmupEvents: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe(
          'Newest events of each partition the edge reads into its replay buffer at start, before it declares itself ready (at most replayBufferEvents): clients resuming after an edge restart are then served from memory. It warms every partition of the topic (with cluster membership, the partitions it owns); 0 warms none.',
        ),
      warmupTimeoutMs: positiveInt
        .max(60000)
        .default(2000)
        .describe(
          'Longest the start waits for the warm-up (partition offsets, leader connections, warmupEvents); the edge is then ready anyway and logs which partitions were not warmed.',
        ),
      shutdownTimeoutMs: positiveInt
        .max(600000)
        .default(25000)
        .describe('Longest drain on SIGTERM before remaining clients are closed.'),
      edgeId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{0,128}$/, 'must be up to 128 characters of [A-Za-z0-9._-]')
        .default('')
        .describe('Name of this edge in Connected frames and logs; empty uses the host name.'),
      allowedOrigins: z
        .array(z.string().min(1))
        .default(['*'])
        .describe(
          'Origins allowed to open WebSockets and SSE streams and to read the HTTP routes from web pages (CORS; exact `https://app.example.com`); `*` allows any. Requests without Origin are allowed.',
        ),
      authRequired: z
        .boolean()
        .default(false)
        .describe(
          'Refuse clients without a bearer JWT (query `token`, `Authorization` header or a Connect frame). Off: anonymous clients read any channel.',
        ),
      jwtChannelsClaim: z
        .string()
        .min(1)
        .default('fanout_subscribe')
        .describe(
          'JWT claim listing the channel namespaces a client may read (`orders` allows `orders.*`; `*` allows all).',
        ),
      maxSubscriptionsPerConnection: positiveInt
        .max(100000)
        .default(100)
        .describe('Most subscriptions on one WebSocket or SSE stream.'),
      maxMessageBytes: positiveInt
        .max(16 * 1024 * 1024)
        .default(64 * 1024)
        .describe('Largest frame a client may send; larger closes with `message_too_large`.'),
      heartbeatSeconds: z
        .number()
        .int()
        .min(1)
        .max(300)
        .default(15)
        .describe(
          'Interval of SSE heartbeat comments and of the ping interval announced to WebSocket clients.',
        ),
      sseRetryMs: positiveInt
        .max(600000)
        .default(2000)
        .describe('`retry:` sent to SSE clients: how long a browser waits before reconnecting.'),
      fetchMaxWaitMs: positiveInt
        .max(30000)
        .default(500)
        .describe(
          'Longest a live Kafka fetch waits for new records (a new partition starts within it).',
        ),
      fetchMaxBytes: positiveInt
        .default(16 * 1024 * 1024)
        .describe('Most bytes of one live Kafka fetch (all partitions of one leader).'),
      kafkaWaitMs: positiveInt
        .max(300000)
        .default(10000)
        .describe(
          'Longest a client waits for Kafka: a subscribe, SSE stream or GET on a partition the edge cannot read yet, or a resume from a position the edge has not read up to (it lags), is answered `kafka_unavailable` (HTTP 503 with Retry-After, WebSocket close 4011, SSE `disconnect`) after it. Open connections are closed the same way once Kafka has been unreachable this long.',
        ),
      partitionLingerSeconds: z
        .number()
        .int()
        .min(0)
        .max(3600)
        .default(30)
        .describe(
          'How long a partition without subscribers is still read, keeping its replay buffer warm.',
        ),
      recentScanEvents: positiveInt
        .max(1000000)
        .default(1000)
        .describe(
          'A GET without `after` returns the channel events among this many newest offsets of its partition.',
        ),
      longPollMaxSeconds: positiveInt
        .max(300)
        .default(60)
        .describe('Longest `wait` of a long-poll GET.'),
      maxRewind: z
        .number()
        .int()
        .min(0)
        .max(100000)
        .default(1000)
        .describe(
          "Largest `rewind` (a channel's last N events before live ones) of an SSE stream or a GET of a channel; a larger one is answered `invalid_argument` naming this limit.",
        ),
      maxRewindScan: positiveInt
        .max(100000000)
        .default(100000)
        .describe(
          "Most records of its partition one channel's `rewind` reads backwards from the head looking for its events; when it stops here before finding N events the client is given those found, marked `truncated`.",
        ),
      state: z
        .object({
          maxChannels: positiveInt
            .max(1000000)
            .default(10000)
            .describe(
              'Most state channels one edge folds at once (one tracker each, holding the document and its recent patches); beyond it the least recently used tracker without readers is dropped, and when every tracker has readers a new channel is answered state_unavailable.',
            ),
          patchRing: positiveInt
            .max(100000)
            .default(64)
            .describe(
              'Recent changes a state tracker keeps as JSON Patches: a reader resuming (SSE Last-Event-ID, a GET with since or If-None-Match) within them gets the patches, an older one a fresh snapshot.',
            ),
          patchRingRatio: z
            .number()
            .min(0)
            .max(1000)
            .default(0.75)
            .describe(
              "Bound of a state tracker's patch ring in bytes, as a multiple of its document's canonical JSON (at least 1 KiB): once the held patches add up to more, a resume from before them is answered with a fresh snapshot (cheaper than the patches), so the oldest are dropped; the newest change is always held. With patchRing it bounds the memory of a channel's patches.",
            ),
          checkpoints: z
            .object({
              enabled: z
                .boolean()
                .default(false)
                .describe(
                  'Start state trackers from checkpoints in the compacted topic `<kafka.topic>.state` instead of folding the channel from the start of its partition (docs/decisions/045-state-checkpoints.md). Off: the edge neither reads nor writes that topic and needs no produce rights.',
                ),
              write: z
                .boolean()
                .default(true)
                .describe(
                  'With checkpoints enabled, run the checkpointer of each partition this edge is the primary owner of (every partition without cluster membership): it folds every state change of the partition and writes checkpoints, creating the topic when absent. Needs produce (and create) rights on `<kafka.topic>.state`; off: the edge only reads checkpoints.',
                ),
              everyChanges: positiveInt
                .max(10000000)
                .default(1000)
                .describe(
                  "A channel's checkpoint is written after this many changes of it (and within everySeconds of its last unwritten change): a fresh edge folds at most about this many of its changes after the checkpoint.",
                ),
              everySeconds: positiveInt
                .max(3600)
                .default(10)
                .describe(
                  'Checkpoints of channels with unwritten changes, and the partition mark a new owner resumes from, are written this often.',
                ),
              maxChannels: positiveInt
                .max(10000000)
                .default(100000)
                .describe(
                  'Documents the checkpointers of this edge hold per partition: past it, the channels changed least recently are written and dropped, and read back from their checkpoint on their next change (fanout_edge_state_checkpointer_evictions_total, _reloads_total). Memory is about this many documents as held in memory (about 2.7 × their JSON size for a typical document, docs/benchmarks.md), plus about 100 bytes per dropped channel for the index of its checkpoint.',
                ),
            })
            .prefault({})
            .describe(
              'Checkpoints of state documents, so that a fresh edge serves a snapshot without reading the whole history of a channel.',
            ),
        })
        .prefault({})
        .describe(
          'State channels on the edge: the trackers that fold documents for GET and SSE readers (the document limits are the top-level state section).',
        ),
      resources: z
        .object({
          enabled: z
            .boolean()
            .default(false)
            .describe(
              'Serve on-demand live resources, `GET /v1/resources?url=` (docs/guides/live-resources.md): the edge leases the resource at a bridge while it has subscribers of it and serves the state channel the bridge publishes it to. Off: the route answers not_found.',
            ),
          bridges: z
            .array(
              z.string().refine((value) => /^https?:\/\/[^/]+\/?$/.test(value), {
                error: 'must be a bridge base URL, http(s)://host:port',
              }),
            )
            .default([])
            .describe(
              'Base URLs of bridges the edge asks for leases, e.g. `http://fanout-bridge:8090` (the bridge Service). Any bridge will do: one that does not own the resource answers 421 resource_elsewhere naming the owner, which the edge asks next and remembers per channel. Used when bridgeDnsName and bridgeKubernetesService are empty.',
            ),
          bridgeDnsName: z
            .string()
            .default('')
            .describe(
              'Name of the headless Service of the bridges (its A/AAAA records are the bridges), resolved every cluster.pollIntervalMs (by cluster.dnsServers, else the system resolver); the edge asks a bridge at `http://<address>:<bridgePort>`. Empty: the bridges list.',
            ),
          bridgePort: port
            .default(8090)
            .describe(
              'Port of the bridge HTTP server (bridge.port) for bridges found by bridgeDnsName, or by bridgeKubernetesService when their EndpointSlices name no `http` port.',
            ),
          bridgeKubernetesService: z
            .string()
            .default('')
            .describe(
              "Headless Service of the bridges whose EndpointSlices (label kubernetes.io/service-name) list them, followed through the Kubernetes API as `kubernetes` cluster membership follows the edges (cluster.kubernetesApiUrl, cluster.kubernetesNamespace; the edge's service account must read EndpointSlices); only ready bridges count, at the slice port named `http`. Wins over bridgeDnsName and bridges. A failed first list starts with no bridge (leases answer unavailable) and is retried.",
            ),
          bridgeToken: leaseToken.describe(
            'Shared secret the edge sends with every lease request (`authorization: Bearer <token>`); must equal bridge.leaseToken. Empty sends none (a start-up warning). Pass it from a Secret.',
          ),
          leaseMs: positiveInt
            .max(3600000)
            .default(60000)
            .describe(
              'Lease asked of the bridge for a resource (cut to bridge.onDemand.maxLeaseMs by the bridge): the bridge polls it until bridge.onDemand.idleMs after the last lease expired.',
            ),
          renewEveryMs: positiveInt
            .max(3600000)
            .default(20000)
            .describe(
              'How often the edge renews the lease of a resource while it has subscribers of it; keep it well below leaseMs so a failed renewal is retried before the lease expires.',
            ),
          requestTimeoutMs: positiveInt
            .max(60000)
            .default(3000)
            .describe(
              'Timeout of one lease request to a bridge; a bridge that does not answer in time counts as unreachable and the next one is asked.',
            ),
          firstStateWaitMs: z
            .number()
            .int()
            .min(0)
            .max(60000)
            .default(5000)
            .describe(
              'How long a request waits for the first state of a resource that has none yet (the bridge publishes after its first poll); then it is answered as a state channel without state (`exists: false`).',
            ),
          maxLeases: positiveInt
            .max(1000000)
            .default(1000)
            .describe(
              'Most resources one edge holds leases for at once (one lease per resource, shared by all its subscribers on the edge); one more is answered resource_limit.',
            ),
          channelPrefix: bridgeChannel
            .default('resources')
            .describe(
              'First segments of the channel of a leased resource; must equal bridge.onDemand.channelPrefix. A token needs read access to `<channelPrefix>.*` (or the one channel) to use on-demand resources.',
            ),
          forwardHeaders: z
            .array(bridgeHeaderName)
            .default([])
            .describe(
              "Request headers of a subscriber the edge passes on in its lease (names, matched case-insensitively). None by default: never the subscriber's cookies or Authorization unless named here. They must match the forwardHeaders of the resource's origin at the bridge, which drops the others; the resource's channel is hashed from the URL and the forwarded headers, so different values give different channels.",
            ),
        })
        .prefault({})
        .describe(
          'On-demand live resources on the edge: `GET /v1/resources?url=` leases the resource at a bridge and serves its state channel.',
        ),
    })
    .prefault({})
    .describe('Edge service.'),
  cluster: z
    .object({
      membership: z
        .enum(['none', 'static', 'file', 'dns', 'kubernetes'])
        .default('none')
        .describe(
          'Where the list of live edges comes from: `none` (this edge alone, no routing hints or rebalancing), `static` (cluster.staticMembers), `file` (cluster.membersFile, re-read on change), `dns` (the A/AAAA records of a headless Service, cluster.dnsName) or `kubernetes` (the ready endpoints of the EndpointSlices of cluster.kubernetesService). `static` and `file` list edges whether they run or not, so each edge probes the readiness of every listed member (cluster.probeIntervalMs) and places partitions only on the members that answer.',
        ),
      memberId: z
        .string()
        .regex(/^[A-Za-z0-9._:-]{0,253}$/, 'must be up to 253 characters of [A-Za-z0-9._:-]')
        .default('')
        .describe(
          "This edge's id in the membership. Empty: edge.edgeId (the host name, i.e. the pod name in Kubernetes, which is how EndpointSlices name endpoints). With `dns` membership, set it to the pod IP: DNS members are named by address.",
        ),
      advertisedUrl: z
        .string()
        .regex(/^$|^https?:\/\/[^\s/]+$/, 'must be http(s)://host[:port] without a path')
        .default('')
        .describe(
          'Base URL clients use to reach this edge (`http://10.0.0.7:8081`); WebSocket clients use its ws(s) form. Empty: http://<edge.host>:<edge.port>.',
        ),
      replicas: positiveInt
        .max(16)
        .default(2)
        .describe('Owners per partition: how many edges clients of one partition are spread over.'),
      loadFactor: z
        .number()
        .min(1)
        .max(10)
        .default(1.25)
        .describe(
          'Bounded-load capacity factor: no edge owns more than ceil(loadFactor × partitions × replicas / edges) partitions.',
        ),
      settleMs: z
        .number()
        .int()
        .min(0)
        .max(600000)
        .default(3000)
        .describe(
          'A member joins only after it has been listed this long, and leaves only after it has been missing this long, so a flapping pod does not move clients. With `static` and `file` membership the same time applies to readiness probes: a listed member is dropped after its probes have failed this long without one success, and re-admitted after answering this long without one failure.',
        ),
      probeIntervalMs: positiveInt
        .min(100)
        .max(600000)
        .default(1000)
        .describe(
          "How often an edge with `static` or `file` membership probes the readiness of each listed member: `GET <member url>/readyz` on the member's client port (200 when it is ready). An edge never probes itself: its own readiness counts for it. Until a member answers its first probe it is not placed on; a member whose probes fail for cluster.settleMs is dropped (no routing hint or `/v1/route` answer names it) and re-admitted after answering for cluster.settleMs.",
        ),
      probeTimeoutMs: positiveInt
        .min(50)
        .max(60000)
        .default(1000)
        .describe(
          'Longest wait for the answer of one readiness probe (connection and status line); a probe that takes longer counts as a failure. At most one probe per member is in flight.',
        ),
      staticMembers: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z0-9._:-]{1,253}=https?:\/\/[^\s/]+$/, 'must be id=http(s)://host:port'),
        )
        .default([])
        .describe('Members of `static` membership, each `id=http://host:port`.'),
      membersFile: z
        .string()
        .default('')
        .describe(
          'JSON file of `file` membership: `{"members":[{"id","url"}]}`; re-read when it changes (written atomically by renaming a new file over it).',
        ),
      dnsName: z
        .string()
        .regex(/^$|^[A-Za-z0-9.-]+$/, 'must be a DNS name')
        .default('')
        .describe(
          'Name of the headless Service for `dns` membership, e.g. fanout-edge-headless.fanout.svc.cluster.local.',
        ),
      dnsServers: z
        .array(z.string().min(1))
        .default([])
        .describe(
          'DNS servers (`ip` or `ip:port`) to ask for cluster.dnsName; empty uses the system resolver.',
        ),
      pollIntervalMs: positiveInt
        .min(100)
        .max(600000)
        .default(5000)
        .describe(
          'How often `dns` membership resolves the name and `file` membership checks the file.',
        ),
      memberPort: port
        .default(0)
        .describe(
          'Client port of the members found by `dns` or `kubernetes` membership; 0 uses edge.port (`kubernetes` prefers the EndpointSlice port named by cluster.kubernetesPortName).',
        ),
      memberScheme: z
        .enum(['http', 'https'])
        .default('http')
        .describe('Scheme of the member URLs built from `dns` or `kubernetes` addresses.'),
      kubernetesService: z
        .string()
        .regex(/^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name')
        .default('')
        .describe(
          'Service whose EndpointSlices (label kubernetes.io/service-name) list the edges, for `kubernetes` membership. Only ready endpoints count.',
        ),
      kubernetesNamespace: z
        .string()
        .default('')
        .describe("Namespace of that Service; empty reads the pod's own from the service account."),
      kubernetesPortName: z
        .string()
        .default('')
        .describe('Name of the EndpointSlice port clients use; empty takes the first port.'),
      kubernetesApiUrl: z
        .string()
        .regex(/^$|^https?:\/\/[^\s]+$/, 'must be an http(s) URL')
        .default('')
        .describe(
          'Kubernetes API server; empty uses https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the service account token and CA under /var/run/secrets/kubernetes.io/serviceaccount.',
        ),
      rebalance: z
        .boolean()
        .default(true)
        .describe(
          'When ownership moves, close the clients whose partitions this edge no longer owns with a resumable `rebalance` close naming their new edge. Turn off when an ingress places clients by its own hash.',
        ),
      rebalanceRatePerSecond: positiveInt
        .max(1000000)
        .default(500)
        .describe('Most clients one edge moves per second after a membership change.'),
      rebalanceJitterMs: z
        .number()
        .int()
        .min(0)
        .max(600000)
        .default(1000)
        .describe(
          'Random delay before an edge starts moving clients, so that every edge does not start at once.',
        ),
    })
    .prefault({})
    .describe(
      'Edge cluster: membership, placement of partitions on edges, routing and rebalancing.',
    ),
  state: z
    .object({
      maxDocumentBytes: positiveInt
        .max(16 * 1024 * 1024)
        .default(256 * 1024)
        .describe(
          'Largest state document a PUT may set, in bytes of UTF-8 JSON; larger ones get state_too_large. Also bounded by ingest.maxEventBytes.',
        ),
      maxPatchBytes: positiveInt
        .max(16 * 1024 * 1024)
        .default(64 * 1024)
        .describe(
          'Largest RFC 7396 merge patch a PATCH may apply, in bytes of UTF-8 JSON; larger ones get state_too_large. Also bounded by ingest.maxEventBytes.',
        ),
      maxDepth: positiveInt
        .max(1000)
        .default(64)
        .describe(
          'Deepest nesting of arrays and objects in a state document or merge patch; deeper ones get state_invalid.',
        ),
    })
    .prefault({})
    .describe(
      'State channels: limits of the JSON documents a channel holds and of the changes that set them (ingest checks them at publish).',
    ),
  bridge: z
    .object({
      origins: z
        .array(z.union([bridgeOrigin, bridgeOriginEntry]))
        .default([])
        .describe(
          'Upstream origins the bridge may poll; none by default, so it polls nothing. Each item is an origin, `https://api.example.com` (scheme, host and port must match exactly; http only where the item says http), or in the configuration file an object `{"origin", "allowPrivate", "forwardHeaders", "headers"}`: `allowPrivate` (default false) lets the origin resolve to private (RFC 1918, 100.64/10, fc00::/7), loopback and link-local addresses, never to unspecified, multicast or cloud metadata addresses; `forwardHeaders` names the request headers of a subscriber the bridge may pass on (none by default: never its Authorization or cookies otherwise); `headers` are sent on every request to the origin (keep a file holding credentials in a Secret).',
        ),
      pollIntervalMs: positiveInt
        .min(100)
        .max(86400000)
        .default(5000)
        .describe(
          'Time from the end of one poll of a resource to the start of the next, unless the upstream asks for more (Cache-Control max-age, Retry-After) or fails (backoff).',
        ),
      minPollIntervalMs: positiveInt
        .min(100)
        .max(86400000)
        .default(1000)
        .describe(
          'Shortest time between two polls of a resource, after an error too: a resource asking for a shorter interval, and a backoff that draws a shorter delay, get this.',
        ),
      maxDelayMs: positiveInt
        .min(1000)
        .max(86400000)
        .default(3600000)
        .describe(
          'Longest wait between two polls that an upstream can ask for with Cache-Control max-age or Retry-After; longer ones are cut to it.',
        ),
      responseTimeoutMs: positiveInt
        .max(600000)
        .default(5000)
        .describe(
          'Longest time from sending a request to the response headers (name resolution, connection, TLS included), per redirect hop; longer fails upstream_timeout.',
        ),
      requestTimeoutMs: positiveInt
        .max(600000)
        .default(15000)
        .describe(
          'Longest time one poll may take, redirects and the whole body included; longer fails upstream_timeout.',
        ),
      maxBodyBytes: positiveInt
        .max(64 * 1024 * 1024)
        .default(1024 * 1024)
        .describe(
          'Largest upstream body read, in bytes; a longer one is cut off (the connection closed) and fails upstream_too_large. The document must also fit state.maxDocumentBytes.',
        ),
      maxRedirects: z
        .number()
        .int()
        .min(0)
        .max(20)
        .default(5)
        .describe(
          'Most redirects followed for one poll, each checked against bridge.origins and the address rules; more, or a URL visited twice, fails upstream_redirect_loop.',
        ),
      backoffBaseMs: positiveInt
        .max(600000)
        .default(1000)
        .describe(
          'First backoff after a failed poll; the n-th failure in a row waits a random time up to backoffBaseMs × 2^(n-1) (full jitter), at most backoffMaxMs, never less than minPollIntervalMs or a Retry-After.',
        ),
      backoffMaxMs: positiveInt
        .max(86400000)
        .default(300000)
        .describe('Cap of the backoff after failed polls.'),
      userAgent: z
        .string()
        .min(1)
        .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII')
        .default('fanout-bridge')
        .describe('User-Agent of the requests to upstreams.'),
      resources: z
        .array(bridgeResource)
        .max(10000)
        .default([])
        .describe(
          'Declared live resources, polled whether or not anyone listens, each by exactly one bridge of the cluster: `[{"channel", "url", "intervalMs", "headers", "statusChannel", "arrayKey"}]` in the configuration file. `channel` is the state channel each changed document is put to; `url` must be of an origin in bridge.origins; `intervalMs` (default bridge.pollIntervalMs, at least bridge.minPollIntervalMs) is the time between polls; `headers` are sent with every request of this resource (on top of the origin\'s); `statusChannel` (default `<channel>` + bridge.statusSuffix) receives the health events; `arrayKey` (a JSON Pointer such as `/id`, optional) is sent with every put so arrays of objects are diffed by that member (docs/guides/state-channels.md). Two resources may not share a channel or a status channel.',
        ),
      statusSuffix: z
        .string()
        .regex(/^(\.[A-Za-z0-9_-]+)+$/, 'must be one or more .segment of [A-Za-z0-9_-]')
        .default('.status')
        .describe(
          'Appended to the channel of a resource to name its status channel, where each change of its health is published as an ordinary JSON event.',
        ),
      host: host
        .default('0.0.0.0')
        .describe(
          'Interface of the bridge HTTP server (leases, /readyz of the membership probes).',
        ),
      port: port
        .default(8090)
        .describe(
          'Port of the bridge HTTP server: `PUT /internal/v1/leases` for edges, `/readyz` and `/healthz`. Also the member port of bridge membership. 0 picks a free port.',
        ),
      ingestAddress: z
        .string()
        .regex(/^[^\s]+:[0-9]{1,5}$/, 'must be host:port')
        .default('localhost:50051')
        .describe(
          'gRPC address of the ingest the bridge publishes through (`ChangeState` for documents, `Publish` for status events).',
        ),
      ingestTls: z
        .boolean()
        .default(false)
        .describe('Connect to the ingest with TLS (system CAs, or bridge.ingestCaFile).'),
      ingestCaFile: z
        .string()
        .default('')
        .describe('PEM file of the CA that signs the ingest certificate, with bridge.ingestTls.'),
      ingestTokenFile: z
        .string()
        .default('')
        .describe(
          'File holding the producer credential the bridge sends to the ingest (`authorization: Bearer <token>`: an API key or a JWT); empty sends none. Read at start-up; keep it in a Secret.',
        ),
      ingestCheckIntervalMs: positiveInt
        .min(100)
        .max(60000)
        .default(2000)
        .describe(
          "How often the bridge asks the ingest's gRPC health service (grpc.health.v1, service fanout.v1.IngestService) whether it serves. Until the first SERVING answer, and after two failed checks in a row, the bridge is not ready (/readyz 503), refuses leases (unavailable) and polls nothing (nothing it fetched could be published; the channels keep their last state); it resumes at the next SERVING answer.",
        ),
      leaseToken: leaseToken.describe(
        'Shared secret an edge must send with a lease request (`authorization: Bearer <token>`, compared in constant time; edge.resources.bridgeToken); a missing or wrong one is answered 401 unauthenticated before the body is read. Empty checks nothing (a start-up warning; the NetworkPolicy alone protects the leases). Pass it from a Secret.',
      ),
      publishTimeoutMs: positiveInt
        .max(600000)
        .default(10000)
        .describe(
          'Deadline of one publish to the ingest; a failed publish is retried (with the same idempotency key) until the next one supersedes it.',
        ),
      shutdownTimeoutMs: positiveInt
        .max(600000)
        .default(10000)
        .describe('Longest wait on SIGTERM for polls and publishes in flight.'),
      onDemand: z
        .object({
          maxResources: z
            .number()
            .int()
            .min(0)
            .max(100000)
            .default(1000)
            .describe(
              'Most leased (on-demand) resources one bridge polls at a time; a lease beyond fails resource_limit. 0 turns on-demand resources off.',
            ),
          maxLeaseMs: positiveInt
            .min(1000)
            .max(3600000)
            .default(300000)
            .describe('Longest lease an edge may ask for; longer ones are cut to it.'),
          idleMs: z
            .number()
            .int()
            .min(0)
            .max(3600000)
            .default(30000)
            .describe(
              'How long a leased resource is still polled after its last lease expired, so an edge renewing late finds it warm.',
            ),
          channelPrefix: bridgeChannel
            .default('resources')
            .describe(
              'First segments of the channel of a leased resource: `<channelPrefix>.<26 characters of base32 SHA-256 of the URL and forwarded headers>`.',
            ),
        })
        .prefault({})
        .describe('Resources polled on demand, while an edge holds a lease on them.'),
    })
    .superRefine((bridge, context) => {
      const origins = new Set(
        bridge.origins.map((entry) => (typeof entry === 'string' ? entry : entry.origin)),
      );
      const channels = new Map<string, number>();
      const statusSuffix = bridge.statusSuffix;
      bridge.resources.forEach((resource, index) => {
        const url = URL.canParse(resource.url) ? new URL(resource.url) : undefined;
        if (url !== undefined && !origins.has(url.origin)) {
          context.addIssue({
            code: 'custom',
            path: ['resources', index, 'url'],
            message: `its origin ${url.origin} is not in bridge.origins`,
          });
        }
        if (url !== undefined && (url.username !== '' || url.password !== '')) {
          context.addIssue({
            code: 'custom',
            path: ['resources', index, 'url'],
            message: 'must not carry a user name or password (configure headers instead)',
          });
        }
        if (resource.intervalMs !== undefined && resource.intervalMs < bridge.minPollIntervalMs) {
          context.addIssue({
            code: 'custom',
            path: ['resources', index, 'intervalMs'],
            message: `must be at least bridge.minPollIntervalMs (${bridge.minPollIntervalMs})`,
          });
        }
        if (!isValidChannel(resource.channel)) return;
        const statusChannel = resource.statusChannel ?? `${resource.channel}${statusSuffix}`;
        // A status channel derived from the channel is reported on the channel.
        const statusField = resource.statusChannel === undefined ? 'channel' : 'statusChannel';
        if (!isValidChannel(statusChannel)) {
          context.addIssue({
            code: 'custom',
            path: ['resources', index, statusField],
            message: `its status channel ${statusChannel} is not a valid channel name (longer than 255 characters)`,
          });
        }
        for (const [field, channel] of [
          ['channel', resource.channel],
          [statusField, statusChannel],
        ] as const) {
          const first = channels.get(channel);
          if (first !== undefined) {
            context.addIssue({
              code: 'custom',
              path: ['resources', index, field],
              message: `${channel} is already used by item ${first + 1} (a channel or status channel)`,
            });
          } else {
            channels.set(channel, index);
          }
        }
      });
    })
    .prefault({})
    .describe(
      'Bridge service (live resources): which upstream JSON resources it may poll, and how politely.',
    ),
});

export type FanoutConfigInput = z.input<typeof configSchema>;

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type FanoutConfig = DeepReadonly<z.output<typeof configSchema>>;

/** The schema as JSON Schema (draft 2020-12), for the Helm chart's values check. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
