/**
 * Renders docs/reference/configuration.md and docs/reference/errors.md from
 * the configuration schema and the error catalog. `npm run docs:generate`
 * writes them; a test fails when the checked-in files differ.
 */
import { actionForCloseCode } from './close-codes.js';
import { configFields, sectionDescription } from './config-fields.js';
import { errorCatalog, errorCodes, GrpcStatus } from './error-catalog.js';

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

export function renderConfigurationReference(): string {
  const lines = [
    generatedNote,
    '',
    '# Configuration reference',
    '',
    'Every fanout service reads one configuration at start-up, in this order (later wins):',
    '',
    '1. the defaults below;',
    '2. the JSON file named by `FANOUT_CONFIG_FILE`, shaped like the sections below',
    '   (`{"kafka": {"brokers": ["kafka:9092"]}}`);',
    '3. environment variables, named after the key (`kafka.clientId` → `FANOUT_KAFKA_CLIENT_ID`);',
    '   lists are comma-separated, booleans `true`/`false`.',
    '',
    'A bad value stops the process with exit code 2 and one line per problem naming the variable',
    'or key. Unknown `FANOUT_*` variables and unknown file keys are errors too, with a suggestion',
    'when the name is close to a real one. Each service reads the sections it uses.',
    '',
  ];
  const sections = [...new Set(configFields.map((field) => field.segments[0] ?? ''))];
  for (const section of sections) {
    lines.push(`## \`${section}\` — ${sectionDescription(section)}`, '');
    lines.push('| key | environment variable | type | default | description |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const field of configFields.filter((candidate) => candidate.segments[0] === section)) {
      const type =
        field.kind === 'enum' ? field.values.map((v) => `\`${v}\``).join(' \\| ') : field.kind;
      lines.push(
        `| \`${field.path}\` | \`${field.env}\` | ${type} | ${cell(formatDefault(field.defaultValue))} | ${cell(field.description)} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function renderErrorsReference(): string {
  const lines = [
    generatedNote,
    '',
    '# Error reference',
    '',
    'Every error fanout reports has a stable `code`. The same code is used on every transport:',
    'gRPC replies carry it in the status message and the `fanout-error-code` trailer; HTTP',
    'answers carry `{"error": {"code", "message", "details"}}`; WebSocket clients get an `error`',
    'frame, or a `disconnect` frame and a close with the code below; SSE streams end with a',
    'typed `error` or `reset` event. Codes are never renamed or reused.',
    '',
    '## What a client does',
    '',
    '| action | meaning |',
    '| --- | --- |',
    '| `resume` | reconnect with backoff (to any edge) and resume from the positions it holds |',
    '| `resume_elsewhere` | reconnect to the edge named in the hint and resume there |',
    '| `retry` | the request may be retried after a delay; the connection is fine |',
    '| `stop` | do not retry or reconnect: fix the request, credentials or configuration |',
    '',
    '## WebSocket close code ranges',
    '',
    '| range | action |',
    '| --- | --- |',
    `| 1000–1015 (RFC 6455) | \`${actionForCloseCode(1006)}\`, except 1002/1003/1007/1008: \`stop\` |`,
    '| 4000–4199 | `resume` |',
    '| 4200–4299 | `resume_elsewhere` |',
    '| 4400–4499 | `stop` (the client is wrong) |',
    '| 4500–4599 | `stop` (the server refuses) |',
    '',
    '## Codes',
    '',
    '| code | gRPC status | HTTP | WebSocket close | action | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
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
