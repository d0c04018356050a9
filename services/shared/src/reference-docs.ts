/**
 * Renders docs/reference/configuration.md and docs/reference/errors.md from
 * the configuration schema and the error catalog. `npm run docs:generate`
 * writes them; a test fails when the checked-in files differ.
 */
import { actionForCloseCode, CloseCode, CloseCodeRange } from './close-codes.js';
import { formerToolingEnvNames, toolingEnvPrefixes } from './config-loader.js';
import {
  configFields,
  configFileEnv,
  sectionDescription,
  type ConfigField,
} from './config-fields.js';
import { errorCatalog, errorCodeForCloseCode, errorCodes, GrpcStatus } from './error-catalog.js';

const generatedNote =
  '<!-- Generated from services/shared/src by `npm run docs:generate`. Do not edit by hand. -->';

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : `\`${value.join(',')}\``;
  if (value === '') return '(empty)';
  if (value === undefined) return '(none)';
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function formatType(field: ConfigField): string {
  return field.kind === 'enum'
    ? field.values.map((value) => `\`${value}\``).join(', ')
    : field.type;
}

export function renderConfigurationReference(): string {
  const lines = [
    generatedNote,
    '',
    '# Configuration reference',
    '',
    'Every fanout service reads one configuration at start-up, from these sources (later wins):',
    '',
    '1. the defaults below;',
    `2. the JSON file named by \`${configFileEnv}\` (or the \`--config <file>\` argument), shaped`,
    '   like the sections below: `{"kafka": {"brokers": ["kafka-0.kafka:9092"]}}`;',
    '3. environment variables, named after the key: `FANOUT_` and the path in SCREAMING_SNAKE_CASE',
    '   (`kafka.clientId` → `FANOUT_KAFKA_CLIENT_ID`). Lists are comma-separated, numbers are',
    '   plain decimals, booleans are `true`/`false` (or `1`/`0`);',
    '4. command-line arguments `--<key>=<value>` (`--edge.port=9000`; a bare `--kafka.ssl` is',
    '   `true`), parsed like environment variables.',
    '',
    'The configuration is validated once and frozen. A bad value stops the process with exit',
    'code 2 and one line per problem, `<variable, argument or key>: <what is wrong> (got "<value>")`.',
    'Unknown `FANOUT_*` variables, arguments and file keys are errors too, with a suggestion when',
    'the name is close to a real one. Passwords are never printed. Every service reads the same',
    'schema and uses the sections it needs.',
    '',
    `Variables starting with ${toolingEnvPrefixes.map((prefix) => `\`${prefix}*\``).join(', ')}`,
    'belong to development tooling, tests, benchmarks and load scripts (`npm start`, the local',
    'Kafka broker, `npm test`, k6), and `FANOUT_CACHE_DIR` to their download cache: the services',
    'ignore them, so they can be set in the same shell, and no setting is ever named so. The',
    `former names ${formerToolingEnvNames.map((name) => `\`${name}\``).join(', ')} of the local`,
    "broker's variables (now `FANOUT_LOCAL_KAFKA_*`) are ignored too, until the next release.",
    '',
  ];
  const sections = [...new Set(configFields.map((field) => field.segments[0] ?? ''))];
  for (const section of sections) {
    lines.push(`## \`${section}\` — ${sectionDescription(section)}`, '');
    lines.push('| key | environment variable | type | default | description |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const field of configFields.filter((candidate) => candidate.segments[0] === section)) {
      lines.push(
        `| \`${field.path}\` | \`${field.env}\` | ${cell(formatType(field))} | ${cell(formatDefault(field.defaultValue))} | ${cell(field.description)} |`,
      );
    }
    lines.push('');
  }
  lines.push(...kafkaSecurityNotes);
  return lines.join('\n');
}

/** How `kafka.ssl` and `kafka.sasl*` combine, and what each protects. */
const kafkaSecurityNotes = [
  '## Kafka security: TLS and SASL',
  '',
  "Every Kafka connection of the services — the ingest's producer, its topic set-up and topic id",
  "lookup, the edge's partition readers — uses the same `kafka.*` settings, so they all speak",
  'the protocol of one broker listener:',
  '',
  '| `kafka.ssl` | `kafka.saslMechanism` | broker listener protocol |',
  '| --- | --- | --- |',
  '| `false` | `none` | `PLAINTEXT` |',
  '| `true` | `none` | `SSL` |',
  '| `false` | `plain`, `scram-sha-256`, `scram-sha-512` | `SASL_PLAINTEXT` |',
  '| `true` | `plain`, `scram-sha-256`, `scram-sha-512` | `SASL_SSL` |',
  '',
  "- TLS verifies the broker (Node.js' CA store, extended with `NODE_EXTRA_CA_CERTS`) and",
  '  encrypts the traffic; the services present no client certificate to Kafka, so SASL is how',
  '  they identify themselves.',
  '- `plain` sends the password itself to the broker. Without `kafka.ssl` it crosses the network',
  '  in clear text: use `plain` only with `kafka.ssl`, or on a network you trust.',
  '- `scram-sha-256` and `scram-sha-512` never send the password (a salted proof instead), and',
  '  the broker proves it holds the credential too. Without `kafka.ssl` the events themselves',
  '  still travel unencrypted. The broker needs the credential first: `kafka-storage format',
  '  --add-scram` when its storage is formatted (KRaft), or `kafka-configs --alter --entity-type',
  "  users --add-config 'SCRAM-SHA-512=[password=…]'` later.",
  "- The password comes from a Secret (the Helm chart's `kafka.external.sasl.existingSecret`)",
  '  as `FANOUT_KAFKA_SASL_PASSWORD`; it is never logged. A wrong user name or password stops',
  "  the ingest at start-up with the broker's reason.",
  '- Other mechanisms (OAUTHBEARER, GSSAPI/Kerberos) are not supported.',
  '',
];

function rangeRow(range: { readonly from: number; readonly to: number }, meaning: string): string {
  return `| ${range.from}–${range.to} | \`${actionForCloseCode(range.from)}\` | ${meaning} |`;
}

export function renderErrorsReference(): string {
  const lines = [
    generatedNote,
    '',
    '# Error reference',
    '',
    'Every error fanout reports has a stable `code`. The same code is used on every transport:',
    '',
    '- gRPC: the status below, the message in the status details, the code in the',
    '  `fanout-error-code` trailer and `details.retryAfterMs` in the `fanout-retry-after-ms` trailer;',
    '- HTTP: the status below and the body `{"error": {"code", "message", "details"}}`;',
    '- WebSocket: an `Error` frame (the connection stays open), or a `Disconnect` frame followed',
    '  by a close with the code below; a `Reset` frame for the `reset` errors;',
    '- SSE: a typed `error` or `reset` event, then the end of the stream when the error is fatal',
    '  to it.',
    '',
    'Codes are never renamed or reused; new ones may be added, so clients treat an unknown code',
    'by its action, HTTP status or close code range. `details` may carry `field` (the offending',
    'field), `retryAfterMs` (how long to wait) and `hint` (the base URL of the edge to use).',
    '',
    '## What a client does',
    '',
    '| action | meaning |',
    '| --- | --- |',
    '| `resume` | reconnect with backoff (to any edge) and resume from the positions it holds; a single request is retried with backoff |',
    '| `resume_elsewhere` | reconnect to the edge in `details.hint` (or the Disconnect frame) and resume there |',
    '| `retry` | the connection is fine; send the request again after `details.retryAfterMs` or a backoff |',
    '| `reset` | the position cannot be served: refetch the channel state, then subscribe again without a position |',
    '| `stop` | terminal: do not retry or reconnect until the request, credentials or configuration are fixed |',
    '',
    '## WebSocket close code ranges',
    '',
    '| range | action | meaning |',
    '| --- | --- | --- |',
    `| 1000–2999 (RFC 6455) | \`${actionForCloseCode(1006)}\` | network or server hiccup; 1002, 1003, 1007, 1008, 1009 and 1010 mean \`${actionForCloseCode(1002)}\` |`,
    rangeRow(CloseCodeRange.resume, 'transient: reconnect with backoff, resume from positions'),
    rangeRow(CloseCodeRange.resumeElsewhere, 'this edge will not serve you: go to the hint'),
    rangeRow(CloseCodeRange.stopClient, 'the client is wrong: request, credentials, origin'),
    rangeRow(CloseCodeRange.stopServer, 'the server refuses this client'),
    `| other | \`${actionForCloseCode(4300)}\` | unassigned: treat as transient |`,
    '',
    '## Close codes',
    '',
    '| close code | constant | error | action |',
    '| --- | --- | --- | --- |',
  ];
  const closes = Object.entries(CloseCode).sort(([, a], [, b]) => a - b);
  for (const [name, closeCode] of closes) {
    const code = errorCodeForCloseCode(closeCode);
    lines.push(
      `| ${closeCode} | \`CloseCode.${name}\` | ${code === undefined ? '—' : `\`${code}\``} | \`${actionForCloseCode(closeCode)}\` |`,
    );
  }
  lines.push(
    '',
    'Errors without a close code of their own close, if they ever have to, with the generic code',
    'of the range their action implies: 4000 (`resume`, `retry`), 4200 (`resume_elsewhere`), 4400',
    '(`stop`, `reset`) or 4500 (`stop` with an HTTP status ≥ 500).',
    '',
    '## Codes',
    '',
    '| code | gRPC status | HTTP | WebSocket close | action | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const code of errorCodes) {
    const spec = errorCatalog[code];
    lines.push(
      `| \`${code}\` | \`${spec.grpc}\` (${GrpcStatus[spec.grpc]}) | ${spec.http} | ${
        spec.close === null ? 'error frame' : String(spec.close)
      } | \`${spec.action}\` | ${cell(spec.message)} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
