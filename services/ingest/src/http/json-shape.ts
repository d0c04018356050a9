/**
 * A scan of a JSON text before it is parsed: how deeply it nests and how
 * many values it holds (its structural tokens), so that a hostile body is
 * refused (too deep) or weighed (its tokens) before JSON.parse builds it.
 * Strings are skipped with their escapes; the text's validity is left to
 * JSON.parse.
 */

export interface JsonShape {
  /** Deepest nesting of arrays and objects. */
  readonly depth: number;
  /** Structural tokens (`{ [ , :`) plus one: an upper bound of the values parsing builds. */
  readonly tokens: number;
}

const quote = 0x22;
const backslash = 0x5c;
const openBrace = 0x7b;
const openBracket = 0x5b;
const closeBrace = 0x7d;
const closeBracket = 0x5d;
const comma = 0x2c;
const colon = 0x3a;

/** Scans `text` (UTF-8 bytes); stops early once nesting passes `maxDepth`. */
export function jsonShape(text: Uint8Array, maxDepth: number): JsonShape {
  let depth = 0;
  let deepest = 0;
  let tokens = 1;
  let inString = false;
  for (let at = 0; at < text.length; at++) {
    const byte = text[at];
    if (inString) {
      if (byte === backslash) at++;
      else if (byte === quote) inString = false;
      continue;
    }
    switch (byte) {
      case quote:
        inString = true;
        break;
      case openBrace:
      case openBracket:
        tokens++;
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > maxDepth) return { depth: deepest, tokens };
        }
        break;
      case closeBrace:
      case closeBracket:
        depth--;
        break;
      case comma:
      case colon:
        tokens++;
        break;
    }
  }
  return { depth: deepest, tokens };
}
