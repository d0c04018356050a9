/**
 * The envelope of `fanout.json.v1` WebSocket frames, both ways: a JSON
 * object with exactly one key, the frame's name, whose value is an object
 * (the protobuf JSON mapping of the `ClientFrame` / `ServerFrame` field).
 * The edge reads client frames and the client reads server frames with
 * `readJsonFrame`; each then reads the fields of its own frames.
 */
import { FanoutError } from './fanout-error.js';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface JsonFrame<Name extends string> {
  readonly name: Name;
  readonly body: JsonObject;
}

/**
 * The name and body of a JSON frame, its name one of `names`. Throws
 * FanoutError('frame_invalid') saying what is wrong; `subject` names the
 * frame in the message (`the frame`, `the frame from the edge`).
 */
export function readJsonFrame<Name extends string>(
  text: string,
  names: readonly Name[],
  subject = 'the frame',
): JsonFrame<Name> {
  const invalid = (message: string): FanoutError => new FanoutError('frame_invalid', message);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(`${subject} is not JSON`);
  }
  if (!isJsonObject(parsed)) throw invalid(`${subject} must be a JSON object`);
  const keys = Object.keys(parsed);
  const name = keys[0];
  if (keys.length !== 1 || name === undefined) {
    throw invalid(`${subject} must have exactly one key, one of ${names.join(', ')}`);
  }
  const known = names.find((candidate) => candidate === name);
  if (known === undefined) {
    // The name is the sender's: quote a bounded part of it.
    const shown = name.length > 80 ? `${name.slice(0, 80)}…` : name;
    throw invalid(`unknown frame "${shown}"; expected one of ${names.join(', ')}`);
  }
  const body = parsed[name];
  if (!isJsonObject(body)) throw invalid(`${known} must be an object`);
  return { name: known, body };
}

/** The JSON text of the frame `name` with `body`. */
export function writeJsonFrame(name: string, body: object): string {
  return JSON.stringify({ [name]: body });
}
