/**
 * The machine-readable API descriptions of the edge: docs/reference/openapi.yaml
 * (OpenAPI 3.1, the HTTP routes) and docs/reference/asyncapi.yaml (AsyncAPI
 * 3.0, the WebSocket frames). Each must pass its official validator, its
 * examples must match its schemas, and both must agree with the code: error
 * codes and HTTP statuses with the error catalog, close codes with
 * close-codes.ts, WebSocket frames and the binary schemas with
 * proto/fanout/v1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { DiagnosticSeverity, Parser as AsyncApiParser } from '@asyncapi/parser';
import { ProtoBuffSchemaParser } from '@asyncapi/protobuf-schema-parser';
import {
  actionForCloseCode,
  ClientFrame,
  CloseCode,
  errorCatalog,
  errorCodeForCloseCode,
  isChannelPattern,
  isErrorCode,
  isValidChannel,
  parsePosition,
  ServerFrame,
} from '@fanout/shared';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { Ajv, type AnySchema } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../support/repo-paths.js';

const referenceDir = join(repoRoot, 'docs', 'reference');
const openApiPath = join(referenceDir, 'openapi.yaml');
const asyncApiPath = join(referenceDir, 'asyncapi.yaml');
const protoDir = join(repoRoot, 'proto', 'fanout', 'v1');

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object at `path` below `node`; fails the test when there is none. */
function objectAt(node: unknown, ...path: string[]): JsonObject {
  let current = node;
  for (const key of path) {
    assert.ok(isObject(current), `no object at ${path.join('.')}`);
    current = current[key];
  }
  assert.ok(isObject(current), `no object at ${path.join('.')}`);
  return current;
}

function arrayAt(node: unknown, ...path: string[]): unknown[] {
  const parent = objectAt(node, ...path.slice(0, -1));
  const value = parent[path.at(-1) ?? ''];
  assert.ok(Array.isArray(value), `no array at ${path.join('.')}`);
  return value;
}

function stringsIn(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** Every node of a YAML document with its path. */
function* walk(
  node: unknown,
  path: readonly string[] = [],
): Generator<[readonly string[], unknown]> {
  yield [path, node];
  if (Array.isArray(node)) {
    for (const [index, item] of node.entries()) yield* walk(item, [...path, String(index)]);
  } else if (isObject(node)) {
    for (const [key, item] of Object.entries(node)) yield* walk(item, [...path, key]);
  }
}

/** Follows a local `$ref` (`#/components/...`) of a document, if the node is one. */
function resolve(document: JsonObject, node: unknown): unknown {
  if (!isObject(node) || typeof node['$ref'] !== 'string') return node;
  const ref = node['$ref'];
  assert.ok(ref.startsWith('#/'), `only local references are expected, got ${ref}`);
  return resolve(document, objectAt(document, ...ref.slice(2).split('/')));
}

/** A deep copy whose `#/components/schemas/X` references point into a schema added to ajv. */
function rebaseRefs(node: unknown, base: string): unknown {
  if (Array.isArray(node)) return node.map((item) => rebaseRefs(item, base));
  if (!isObject(node)) return node;
  const copy: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    copy[key] =
      key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')
        ? `${base}/${value.slice('#/components/schemas/'.length)}`
        : rebaseRefs(value, base);
  }
  return copy;
}

const snakeCase = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/;
/** Actions of the catalog: the other snake_case words the descriptions use. */
const clientActions = new Set<string>(Object.values(errorCatalog).map((spec) => spec.action));
/** snake_case names in the descriptions that are neither error codes nor actions. */
const otherSnakeCaseNames = new Set(['fanout_subscribe', 'history_truncated', 'max_channels']);

// ---- the contract ----------------------------------------------------------

const protoSources = ['event.proto', 'websocket.proto'].map((file) =>
  readFileSync(join(protoDir, file), 'utf8'),
);

/** The top-level `message` and `enum` blocks of proto sources, by name. */
function protoBlocks(sources: readonly string[]): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const source of sources) {
    const text = source.replace(/\/\/.*$/gm, '');
    const start = /^(?:message|enum) (\w+) \{/gm;
    for (let match = start.exec(text); match !== null; match = start.exec(text)) {
      let depth = 0;
      let end = match.index;
      for (; end < text.length; end++) {
        if (text[end] === '{') depth++;
        if (text[end] === '}' && --depth === 0) break;
      }
      blocks.set(match[1]!, text.slice(match.index, end + 1).replace(/\s+/g, ' '));
    }
  }
  return blocks;
}

const contractBlocks = protoBlocks(protoSources);

/** The messages and enums a root message needs, itself included. */
function protoClosure(root: string): Set<string> {
  const needed = new Set<string>();
  const visit = (name: string): void => {
    const block = contractBlocks.get(name);
    if (block === undefined || needed.has(name)) return;
    needed.add(name);
    for (const match of block.matchAll(/([\w.]+) \w+ = \d+;/g)) visit(match[1]!);
  };
  visit(root);
  return needed;
}

function lowerCamel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** The fields of a frame message's `oneof frame`, in the JSON mapping's lowerCamelCase. */
function oneofFields(message: 'ClientFrame' | 'ServerFrame'): string[] {
  const block = contractBlocks.get(message);
  assert.ok(block !== undefined, `${message} is not in proto/fanout/v1`);
  const oneof = /oneof frame \{([^}]*)\}/.exec(block);
  assert.ok(oneof?.[1] !== undefined, `${message} has no oneof frame`);
  return [...oneof[1].matchAll(/[\w.]+ (\w+) = \d+;/g)].map((match) => lowerCamel(match[1]!));
}

// ---- SSE -------------------------------------------------------------------

interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** An SSE example: its `retry:`, events and comments. */
function parseSse(text: string): {
  retry: string | undefined;
  events: SseEvent[];
  comments: number;
} {
  let retry: string | undefined;
  let comments = 0;
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const fields = new Map<string, string[]>();
    for (const line of block.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) {
        comments++;
        continue;
      }
      const match = /^(event|id|data|retry): (.*)$/.exec(line);
      assert.ok(match, `not an SSE line: ${line}`);
      fields.set(match[1]!, [...(fields.get(match[1]!) ?? []), match[2]!]);
    }
    if (fields.has('retry')) retry = fields.get('retry')?.[0];
    if (!fields.has('data')) continue;
    events.push({
      event: fields.get('event')?.[0] ?? 'message',
      id: fields.get('id')?.[0],
      data: (fields.get('data') ?? []).join('\n'),
    });
  }
  return { retry, events, comments };
}

/** `<epoch>:<p>:<o>[,<p>:<o>...]` as an epoch and offsets by partition. */
function parseCursor(cursor: string): { epoch: string; offsets: Map<number, number> } {
  const [first = '', ...rest] = cursor.split(',');
  const head = parsePosition(first);
  const offsets = new Map([[head.partition, head.offset]]);
  for (const entry of rest) {
    const position = parsePosition(`${head.epoch}:${entry}`);
    offsets.set(position.partition, position.offset);
  }
  return { epoch: head.epoch, offsets };
}

// ---- the documents ---------------------------------------------------------

const openApiText = readFileSync(openApiPath, 'utf8');
const asyncApiText = readFileSync(asyncApiPath, 'utf8');
const openApi = objectAt({ document: parseYaml(openApiText) as unknown }, 'document');
const asyncApi = objectAt({ document: parseYaml(asyncApiText) as unknown }, 'document');
const documents = [
  { file: 'openapi.yaml', document: openApi },
  { file: 'asyncapi.yaml', document: asyncApi },
] as const;

const openApiSchemas = objectAt(openApi, 'components', 'schemas');
const asyncApiSchemas = objectAt(asyncApi, 'components', 'schemas');

/** Validators for the examples: JSON Schema 2020-12 (OpenAPI 3.1), draft-07 (AsyncAPI 3.0). */
const ajvOptions = {
  strict: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  allErrors: true,
  allowUnionTypes: true,
} as const;
const openApiAjv = new Ajv2020(ajvOptions);
const asyncApiAjv = new Ajv(ajvOptions);
for (const ajv of [openApiAjv, asyncApiAjv]) {
  addFormats.default(ajv);
  ajv.addKeyword('x-sse-events');
}
openApiAjv.addSchema({ $defs: rebaseRefs(openApiSchemas, 'openapi#/$defs') }, 'openapi');
asyncApiAjv.addSchema(
  { definitions: rebaseRefs(asyncApiSchemas, 'asyncapi#/definitions') },
  'asyncapi',
);

function openApiSchemaValid(schema: unknown, value: unknown): string | undefined {
  const check = openApiAjv.compile(rebaseRefs(schema, 'openapi#/$defs') as AnySchema);
  return check(value) ? undefined : openApiAjv.errorsText(check.errors);
}

function asyncApiSchemaValid(schema: unknown, value: unknown): string | undefined {
  const check = asyncApiAjv.compile(rebaseRefs(schema, 'asyncapi#/definitions') as AnySchema);
  return check(value) ? undefined : asyncApiAjv.errorsText(check.errors);
}

/** Every operation of the OpenAPI paths, with its method and path. */
function openApiOperations(): { path: string; method: string; operation: JsonObject }[] {
  const operations = [];
  for (const [path, item] of Object.entries(objectAt(openApi, 'paths'))) {
    assert.ok(isObject(item));
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
      const operation = item[method];
      if (isObject(operation)) operations.push({ path, method, operation });
    }
  }
  return operations;
}

/** Every response of every operation, `$ref`s followed. */
function openApiResponses(): { where: string; status: string; response: JsonObject }[] {
  return openApiOperations().flatMap(({ path, method, operation }) =>
    Object.entries(objectAt(operation, 'responses')).map(([status, response]) => {
      const resolved = resolve(openApi, response);
      assert.ok(isObject(resolved));
      return { where: `${method.toUpperCase()} ${path} ${status}`, status, response: resolved };
    }),
  );
}

/** The error codes an error response's schema allows (`error.code` enum). */
function schemaErrorCodes(schema: unknown): string[] {
  const codes: string[] = [];
  for (const [path, node] of walk(schema)) {
    if (path.at(-1) === 'code' && isObject(node)) codes.push(...stringsIn(node['enum']));
  }
  return codes;
}

/** The SSE examples of the OpenAPI document, with the path they belong to. */
function sseExamples(): { where: string; path: string; text: string }[] {
  const found = [];
  for (const { path, operation } of openApiOperations()) {
    for (const [status, response] of Object.entries(objectAt(operation, 'responses'))) {
      const content = objectAt({ response: resolve(openApi, response) }, 'response')['content'];
      if (!isObject(content) || !isObject(content['text/event-stream'])) continue;
      const examples = objectAt(content, 'text/event-stream', 'examples');
      for (const [name, example] of Object.entries(examples)) {
        const value = objectAt({ example }, 'example')['value'];
        assert.equal(typeof value, 'string', `${path} ${status} SSE example ${name}`);
        found.push({ where: `${path} ${status} ${name}`, path, text: value as string });
      }
    }
  }
  return found;
}

/** The JSON frame key of an AsyncAPI message (`subscribe` for `{"subscribe": ...}`), if any. */
function jsonFrameKey(message: JsonObject): string | undefined {
  const payload = resolve(asyncApi, message['payload']);
  if (!isObject(payload) || payload['type'] !== 'object') return undefined;
  const required = stringsIn(payload['required']);
  return required.length === 1 ? required[0] : undefined;
}

/** The AsyncAPI messages referenced by a list of `$ref`s, by their key in components. */
function referencedMessages(list: unknown): JsonObject[] {
  return (Array.isArray(list) ? list : []).map((reference) => {
    const message = resolve(asyncApi, resolve(asyncApi, reference));
    assert.ok(isObject(message));
    return message;
  });
}

// ---- the tests ---------------------------------------------------------------

describe('docs/reference/openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 description (@readme/openapi-parser)', async () => {
    assert.equal(openApi['openapi'], '3.1.0');
    const result = await validateOpenApi(openApiPath);
    assert.equal(result.valid, true, JSON.stringify(result, null, 2));
    assert.deepEqual(result.warnings, []);
  });

  it('the validator rejects a broken copy', async () => {
    const broken = structuredClone(openApi);
    delete objectAt(broken, 'paths', '/v1/ws', 'get', 'responses', '101')['description'];
    const result = await validateOpenApi(broken as never);
    assert.equal(result.valid, false);
  });

  it('documents every route of the edge and no other', () => {
    assert.deepEqual(Object.keys(objectAt(openApi, 'paths')).sort(), [
      '/readyz',
      '/v1/channels/{channel}',
      '/v1/resources',
      '/v1/route',
      '/v1/state',
      '/v1/state/{channel}',
      '/v1/stream',
      '/v1/ws',
    ]);
    const upgrade = objectAt(openApi, 'paths', '/v1/ws', 'get', 'responses');
    assert.ok(isObject(upgrade['101']), '/v1/ws documents the 101 upgrade');
    const read = objectAt(openApi, 'paths', '/v1/channels/{channel}', 'get', 'responses', '200');
    assert.deepEqual(Object.keys(objectAt(read, 'content')).sort(), [
      'application/json',
      'text/event-stream',
    ]);
  });

  it('each error response has the catalog status of every code it names, with examples', () => {
    let checked = 0;
    for (const { where, status, response } of openApiResponses()) {
      if (Number(status) < 400) continue;
      const media = objectAt(response, 'content', 'application/json');
      const codes = schemaErrorCodes(media['schema']);
      assert.ok(codes.length > 0, `${where}: the schema names no error code`);
      const examples = objectAt(media, 'examples');
      const exampleCodes = Object.entries(examples).map(([name, example]) => {
        const code = objectAt(example, 'value', 'error')['code'];
        assert.equal(code, name, `${where}: example ${name} is named after its code`);
        return name;
      });
      assert.deepEqual(
        [...exampleCodes].sort(),
        [...codes].sort(),
        `${where}: one example per code`,
      );
      for (const code of codes) {
        assert.ok(isErrorCode(code), `${where}: ${code} is not in the error catalog`);
        assert.equal(
          errorCatalog[code].http,
          Number(status),
          `${where}: ${code} has HTTP status ${errorCatalog[code].http} in the catalog`,
        );
        checked++;
      }
      if (status === '429' || status === '503') {
        assert.ok(isObject(objectAt(response, 'headers')['Retry-After']), `${where}: Retry-After`);
      }
    }
    assert.ok(checked >= 10, `only ${checked} error codes checked`);
  });

  it('its JSON examples match their schemas', () => {
    for (const { where, response } of openApiResponses()) {
      const content = response['content'];
      const media = isObject(content) ? content['application/json'] : undefined;
      if (!isObject(media) || !isObject(media['examples'])) continue;
      for (const [name, example] of Object.entries(media['examples'])) {
        const problem = openApiSchemaValid(
          media['schema'],
          objectAt({ example }, 'example')['value'],
        );
        assert.equal(problem, undefined, `${where} example ${name}: ${problem}`);
      }
    }
    for (const [name, parameter] of Object.entries(objectAt(openApi, 'components', 'parameters'))) {
      assert.ok(isObject(parameter));
      if (parameter['example'] === undefined) continue;
      const problem = openApiSchemaValid(parameter['schema'], parameter['example']);
      assert.equal(problem, undefined, `parameter ${name}: ${problem}`);
    }
  });

  it('its SSE examples are event streams whose data match the x-sse-events schemas', () => {
    const eventStreams = {
      events: objectAt(openApiSchemas, 'SseStream', 'x-sse-events'),
      state: objectAt(openApiSchemas, 'StateSseStream', 'x-sse-events'),
    };
    const examples = sseExamples();
    assert.ok(examples.length >= 3, 'SSE examples are documented');
    const seen = new Set<string>();
    for (const { where, path, text } of examples) {
      // A state stream (of a state channel or a resource) carries snapshots and patches, not events.
      const sseEvents =
        path.startsWith('/v1/state') || path === '/v1/resources'
          ? eventStreams.state
          : eventStreams.events;
      const stream = parseSse(text);
      assert.match(stream.retry ?? '', /^\d+$/, `${where}: the stream starts with retry:`);
      assert.ok(stream.events.length > 0, `${where}: no events`);
      for (const event of stream.events) {
        seen.add(event.event);
        const schema = sseEvents[event.event];
        assert.ok(isObject(schema), `${where}: no x-sse-events schema for "${event.event}"`);
        const data: unknown = JSON.parse(event.data);
        const problem = openApiSchemaValid(schema, data);
        assert.equal(problem, undefined, `${where} ${event.event}: ${problem}`);
        if (event.id === undefined) continue;
        const cursor = parseCursor(event.id);
        if (event.event === 'subscribed') {
          assert.equal(objectAt({ data }, 'data')['cursor'], event.id, `${where}: subscribed id`);
        }
        if (event.event === 'message') {
          const position = parsePosition(String(objectAt({ data }, 'data')['position']));
          assert.equal(cursor.epoch, position.epoch, `${where}: id epoch`);
          assert.equal(cursor.offsets.get(position.partition), position.offset, `${where}: id`);
          if (path === '/v1/channels/{channel}') {
            assert.equal(event.id, objectAt({ data }, 'data')['position'], `${where}: id`);
          }
        }
      }
    }
    assert.deepEqual(
      [...seen].sort(),
      [
        ...new Set([...Object.keys(eventStreams.events), ...Object.keys(eventStreams.state)]),
      ].sort(),
      'every SSE event has an example',
    );
  });

  it('its positions and channels follow the grammar of the code', () => {
    const position = new RegExp(String(objectAt(openApiSchemas, 'Position')['pattern']));
    const parses = (text: string): boolean => {
      try {
        parsePosition(text);
        return true;
      } catch {
        return false;
      }
    };
    for (const sample of [
      'ww7w7_gUT7WHdd738IhAfQ:2:41',
      'e:0:-1',
      'e:0:0',
      'e-_1:2147483647:9007199254740991',
      'e:0:-2',
      'e:01:1',
      'e:1:01',
      ':1:1',
      'e:1',
      'e:1:1:1',
      'e.x:1:1',
      `${'a'.repeat(65)}:1:1`,
    ]) {
      assert.equal(position.test(sample), parses(sample), `Position pattern on "${sample}"`);
    }
    const channel = new RegExp(String(objectAt(openApiSchemas, 'Channel')['pattern']));
    const channelOrPattern = new RegExp(
      String(objectAt(openApiSchemas, 'ChannelOrPattern')['pattern']),
    );
    for (const sample of [
      'orders',
      'orders.eu.1234',
      'a_b-c.D9',
      'orders.*',
      '*',
      'a..b',
      '.a',
      'a.',
      'a.*.b',
      'a b',
    ]) {
      assert.equal(channel.test(sample), isValidChannel(sample), `Channel pattern on "${sample}"`);
      assert.equal(
        channelOrPattern.test(sample),
        isValidChannel(sample) || isChannelPattern(sample),
        `ChannelOrPattern pattern on "${sample}"`,
      );
    }
  });
});

describe('docs/reference/asyncapi.yaml', () => {
  let parser: AsyncApiParser;
  before(() => {
    parser = new AsyncApiParser();
    parser.registerSchemaParser(ProtoBuffSchemaParser());
  });

  it('is a valid AsyncAPI 3.0 document (@asyncapi/parser, protobuf schemas parsed)', async () => {
    assert.equal(asyncApi['asyncapi'], '3.0.0');
    const { document, diagnostics } = await parser.parse(asyncApiText, { source: asyncApiPath });
    // Information and hints (such as "a newer AsyncAPI version exists") pass.
    // Severities are compared as numbers: the parser's diagnostics come from
    // its own copy of @stoplight/types, whose enum is a different type.
    const worstAllowed: number = DiagnosticSeverity.Warning;
    const problems = diagnostics.filter((diagnostic) => {
      const severity: number = diagnostic.severity;
      return severity <= worstAllowed;
    });
    assert.deepEqual(
      problems.map((problem) => `${problem.path.join('.')}: ${problem.message}`),
      [],
    );
    assert.ok(document, 'the document parsed');
    const serverFrame = document.components().messages().get('serverFrame');
    assert.equal(serverFrame?.payload()?.title(), 'ServerFrame', 'the protobuf schema was read');
  });

  it('the validator rejects a broken copy', async () => {
    const broken = await parser.parse(asyncApiText.replace('action: receive', 'action: recv'));
    assert.equal(broken.document, undefined);
    const badProto = await parser.parse(
      asyncApiText.replace('string token = 2;', 'strin token = 2;'),
    );
    assert.equal(badProto.document, undefined);
  });

  it('has a JSON message for every ClientFrame and ServerFrame field of the proto', () => {
    const clientFields = oneofFields('ClientFrame');
    const serverFields = oneofFields('ServerFrame');
    // The generated code agrees on the oneof names of the JSON mapping.
    for (const field of clientFields) {
      assert.equal(ClientFrame.fromObject({ [field]: {} }).frame, field);
    }
    for (const field of serverFields) {
      assert.equal(ServerFrame.fromObject({ [field]: {} }).frame, field);
    }
    const received = new Set<string>();
    const sent = new Set<string>();
    for (const [name, operation] of Object.entries(objectAt(asyncApi, 'operations'))) {
      assert.ok(isObject(operation));
      const receives = operation['action'] === 'receive';
      for (const message of referencedMessages(operation['messages'])) {
        const key = jsonFrameKey(message);
        if (key !== undefined) (receives ? received : sent).add(key);
      }
      if (!isObject(operation['reply'])) continue;
      assert.ok(receives, `${name}: only client requests have replies`);
      for (const message of referencedMessages(operation['reply']['messages'])) {
        const key = jsonFrameKey(message);
        if (key !== undefined) sent.add(key);
      }
    }
    assert.deepEqual([...received].sort(), [...clientFields].sort(), 'client frames (receive)');
    assert.deepEqual([...sent].sort(), [...serverFields].sort(), 'server frames (send)');
    const channelMessages = Object.values(objectAt(asyncApi, 'channels', 'socket', 'messages'));
    const keys = channelMessages.flatMap((reference) => {
      const message = resolve(asyncApi, reference);
      assert.ok(isObject(message));
      const key = jsonFrameKey(message);
      if (key !== undefined)
        assert.equal(message['name'], key, `message ${key} is named after its frame`);
      return key === undefined ? [] : [key];
    });
    assert.deepEqual(keys.sort(), [...clientFields, ...serverFields].sort(), 'no other JSON frame');
  });

  it('its binary messages carry ClientFrame and ServerFrame exactly as proto/fanout/v1 defines them', () => {
    for (const [key, root] of [
      ['clientFrame', 'ClientFrame'],
      ['serverFrame', 'ServerFrame'],
    ] as const) {
      const message = objectAt(asyncApi, 'components', 'messages', key);
      assert.equal(message['contentType'], 'application/x-protobuf');
      const payload = objectAt(message, 'payload');
      assert.equal(payload['schemaFormat'], 'application/vnd.google.protobuf;version=3');
      const copy = protoBlocks([String(payload['schema'])]);
      assert.deepEqual([...copy.keys()].sort(), [...protoClosure(root)].sort(), `${key}: types`);
      for (const [name, block] of copy) {
        assert.equal(block, contractBlocks.get(name), `${key}: ${name} differs from the contract`);
      }
    }
  });

  it('its message examples match their payload schemas', () => {
    let checked = 0;
    for (const [name, message] of Object.entries(objectAt(asyncApi, 'components', 'messages'))) {
      assert.ok(isObject(message));
      if (message['contentType'] === 'application/x-protobuf') continue;
      const examples = arrayAt(message, 'examples');
      assert.ok(examples.length > 0, `message ${name} has examples`);
      for (const example of examples) {
        const problem = asyncApiSchemaValid(message['payload'], objectAt(example, 'payload'));
        assert.equal(problem, undefined, `message ${name}: ${problem}`);
        checked++;
      }
    }
    assert.ok(checked >= 14);
    // The same validation does reject a wrong frame.
    const wrong = {
      subscribed: { requestId: 1, subscriptions: [{ channel: 'a', position: 'x' }] },
    };
    assert.notEqual(
      asyncApiSchemaValid({ $ref: '#/components/schemas/SubscribedFrame' }, wrong),
      undefined,
    );
  });

  it('its close codes are those of close-codes.ts, with their errors and actions', () => {
    const closeCodes = arrayAt(asyncApiSchemas, 'CloseCode', 'oneOf').map((entry) => {
      const { const: code, title, description } = objectAt({ entry }, 'entry');
      assert.equal(typeof code, 'number');
      assert.equal(title, errorCodeForCloseCode(code as number), `close code ${String(code)}`);
      assert.ok(
        String(description).startsWith(`${actionForCloseCode(code as number)} —`),
        `close code ${String(code)} is ${actionForCloseCode(code as number)}`,
      );
      return code as number;
    });
    assert.deepEqual(
      closeCodes,
      Object.values(CloseCode).sort((a, b) => a - b),
    );
  });
});

describe('openapi.yaml and asyncapi.yaml together', () => {
  it('share the same schemas of events, positions and channels', () => {
    for (const name of [
      'Event',
      'TraceContext',
      'Position',
      'Channel',
      'ChannelOrPattern',
      'ClientAction',
    ]) {
      assert.deepEqual(openApiSchemas[name], asyncApiSchemas[name], `schema ${name}`);
    }
  });

  it('name only error codes of the catalog', () => {
    let mentioned = 0;
    const check = (file: string, where: string, code: unknown): void => {
      assert.ok(
        typeof code === 'string' && isErrorCode(code),
        `${file} ${where}: "${String(code)}" is not an error code`,
      );
      mentioned++;
    };
    for (const { file, document } of documents) {
      for (const [path, node] of walk(document)) {
        const where = path.join('.');
        const key = path.at(-1);
        if (key === 'code' && typeof node === 'string') check(file, where, node);
        if (key === 'code' && isObject(node))
          for (const code of stringsIn(node['enum'])) check(file, where, code);
        if ((key === 'description' || key === 'summary') && typeof node === 'string') {
          for (const match of node.matchAll(/`([^`\s]+)`/g)) {
            const word = match[1]!;
            if (!snakeCase.test(word) || clientActions.has(word) || otherSnakeCaseNames.has(word)) {
              continue;
            }
            check(file, where, word);
          }
        }
      }
    }
    for (const { where, text } of sseExamples()) {
      for (const event of parseSse(text).events) {
        const data: unknown = JSON.parse(event.data);
        if (isObject(data) && data['code'] !== undefined)
          check('openapi.yaml', where, data['code']);
      }
    }
    assert.ok(mentioned > 50, `only ${mentioned} mentions of error codes found`);
  });

  it('list every close code with its error and action', () => {
    const row = /^\| (\d+) \| `([a-z_]+)` \| `([a-z_]+)` \|$/gm;
    for (const { file, document } of documents) {
      let tables = 0;
      for (const [path, node] of walk(document)) {
        if (path.at(-1) !== 'description' || typeof node !== 'string') continue;
        const rows = [...node.matchAll(row)];
        if (rows.length === 0) continue;
        tables++;
        for (const [, code, error, action] of rows) {
          assert.equal(error, errorCodeForCloseCode(Number(code)), `${file}: close code ${code}`);
          assert.equal(action, actionForCloseCode(Number(code)), `${file}: close code ${code}`);
        }
        assert.deepEqual(
          rows.map((match) => Number(match[1])),
          Object.values(CloseCode).sort((a, b) => a - b),
          `${file} ${path.join('.')}: every close code, in order`,
        );
      }
      assert.ok(tables > 0, `${file} lists the close codes`);
    }
  });
});
