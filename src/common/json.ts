/**
 * Request bodies: the one judge of "is this a JSON object?", shared by the sidecar and the
 * backend so both read the same bytes the same way (security.md #17, #18).
 *
 * `JSON.parse` keeps the LAST of two equal keys, so `{"roles":["user"],"roles":["admin"]}`
 * could be decided on as one object and stored as another by a parser that keeps the first.
 * We refuse duplicate keys outright: a strict scanner walks the text first (grammar, depth,
 * duplicates after unescaping), then `JSON.parse` builds the value it has already approved.
 */
import { InvalidInputError, UnsupportedMediaTypeError } from '../errors.js';

/** Deeper nesting than any users body needs; the limit keeps the scanner's recursion bounded. */
export const MAX_JSON_DEPTH = 64;

/**
 * Accepts `application/json` with no charset or a UTF-8 one (any case, quoted or not); throws
 * UnsupportedMediaTypeError (415) otherwise. Callers may run it before reading the body.
 */
export function assertJsonMediaType(contentType: string | undefined): void {
  if (contentType === undefined) throw new UnsupportedMediaTypeError();
  const [type = '', ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'application/json') throw new UnsupportedMediaTypeError();
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    const name = param.slice(0, eq).trim().toLowerCase();
    if (name !== 'charset') continue;
    const value = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (value !== 'utf-8' && value !== 'utf8') {
      throw new UnsupportedMediaTypeError(`the body must be UTF-8 JSON, not charset "${value}"`);
    }
  }
}

/**
 * Parses a request body into a JSON object.
 *
 * Throws UnsupportedMediaTypeError (415) for a non-JSON media type, and InvalidInputError (400)
 * for invalid UTF-8 (a byte-order mark included), malformed JSON, nesting over
 * {@link MAX_JSON_DEPTH}, a top-level value that is not an object, or a duplicate key at any depth.
 */
export function parseJsonObject(
  body: Buffer,
  contentType: string | undefined,
): Record<string, unknown> {
  assertJsonMediaType(contentType);
  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF in the text, where the scanner refuses it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch (err) {
    throw new InvalidInputError('the body is not valid UTF-8', { cause: err });
  }
  scanJson(text);
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

class JsonSyntaxError extends InvalidInputError {
  constructor(message: string, position: number) {
    super(`malformed JSON: ${message} at position ${position}`, { details: { position } });
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/** Validates `text` as exactly one JSON value with no duplicate object keys; throws otherwise. */
function scanJson(text: string): void {
  let pos = 0;

  const skipWs = (): void => {
    while (pos < text.length && WS.has(text[pos] as string)) pos++;
  };

  // A loop, not a regex: V8's backtracking regex runs out of stack on long escaped strings.
  const readString = (): string => {
    const start = pos;
    pos++; // the opening quote
    for (;;) {
      if (pos >= text.length) throw new JsonSyntaxError('unterminated string', start);
      const code = text.charCodeAt(pos);
      if (code === 0x22) break;
      if (code < 0x20) throw new JsonSyntaxError('control character in a string', pos);
      if (code === 0x5c) {
        const next = text[pos + 1];
        if (next !== undefined && SIMPLE_ESCAPES.has(next)) {
          pos += 2;
        } else if (next === 'u' && HEX4.test(text.slice(pos + 2, pos + 6))) {
          pos += 6;
        } else {
          throw new JsonSyntaxError('bad escape', pos);
        }
      } else {
        pos++;
      }
    }
    pos++; // the closing quote
    return text.slice(start, pos);
  };

  /** After a member or an element: true past the closing bracket, false past a comma. */
  const closedBy = (close: '}' | ']'): boolean => {
    skipWs();
    const c = text[pos];
    if (c !== ',' && c !== close) throw new JsonSyntaxError(`expected "," or "${close}"`, pos);
    pos++;
    return c === close;
  };

  const scanValue = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) {
      throw new InvalidInputError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const keys = new Set<string>();
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return;
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') throw new JsonSyntaxError('expected a key', pos);
        const at = pos;
        // Compare keys after unescaping: "rol\u0065s" is "roles".
        const key = JSON.parse(readString()) as string;
        if (keys.has(key)) {
          throw new InvalidInputError(`duplicate key "${key}" in the JSON body`, {
            details: { key, position: at },
          });
        }
        keys.add(key);
        skipWs();
        if (text[pos] !== ':') throw new JsonSyntaxError('expected ":"', pos);
        pos++;
        scanValue(depth + 1);
        if (closedBy('}')) return;
      }
    }
    if (c === '[') {
      pos++;
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return;
      }
      for (;;) {
        scanValue(depth + 1);
        if (closedBy(']')) return;
      }
    }
    if (c === '"') {
      readString();
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, pos)) {
        pos += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) throw new JsonSyntaxError('unexpected character', pos);
    pos += m[0].length;
  };

  scanValue(0);
  skipWs();
  if (pos !== text.length) throw new JsonSyntaxError('unexpected data after the value', pos);
}
