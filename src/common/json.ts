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
  const scanner = new JsonScanner(text);
  scanner.value(0);
  scanner.end();
}

/** A cursor over the text: each method reads one piece of the grammar past `pos`, or throws. */
class JsonScanner {
  private pos = 0;

  constructor(private readonly text: string) {}

  /** One value, nested `depth` levels deep. */
  value(depth: number): void {
    if (depth > MAX_JSON_DEPTH) {
      throw new InvalidInputError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    this.skipWs();
    const c = this.text[this.pos];
    if (c === '{') this.object(depth);
    else if (c === '[') this.array(depth);
    else if (c === '"') this.string();
    else this.scalar();
  }

  /** Nothing but white space after the value. */
  end(): void {
    this.skipWs();
    if (this.pos !== this.text.length) {
      throw new JsonSyntaxError('unexpected data after the value', this.pos);
    }
  }

  private object(depth: number): void {
    this.pos++;
    const keys = new Set<string>();
    this.skipWs();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return;
    }
    do {
      this.skipWs();
      this.key(keys);
      this.skipWs();
      if (this.text[this.pos] !== ':') throw new JsonSyntaxError('expected ":"', this.pos);
      this.pos++;
      this.value(depth + 1);
    } while (!this.closedBy('}'));
  }

  /** A member's key, refused if `keys` already holds it. */
  private key(keys: Set<string>): void {
    if (this.text[this.pos] !== '"') throw new JsonSyntaxError('expected a key', this.pos);
    const at = this.pos;
    // Compare keys after unescaping: "rol\u0065s" is "roles".
    const key = JSON.parse(this.string()) as string;
    if (keys.has(key)) {
      throw new InvalidInputError(`duplicate key "${key}" in the JSON body`, {
        details: { key, position: at },
      });
    }
    keys.add(key);
  }

  private array(depth: number): void {
    this.pos++;
    this.skipWs();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return;
    }
    do this.value(depth + 1);
    while (!this.closedBy(']'));
  }

  /** `true`, `false`, `null` or a number. */
  private scalar(): void {
    for (const literal of ['true', 'false', 'null']) {
      if (this.text.startsWith(literal, this.pos)) {
        this.pos += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) throw new JsonSyntaxError('unexpected character', this.pos);
    this.pos += m[0].length;
  }

  /** A string, quotes included, as it stands in the text. */
  private string(): string {
    // A loop, not a regex: V8's backtracking regex runs out of stack on long escaped strings.
    const { text } = this;
    const start = this.pos;
    let pos = start + 1; // past the opening quote
    for (;;) {
      if (pos >= text.length) throw new JsonSyntaxError('unterminated string', start);
      const code = text.charCodeAt(pos);
      if (code === 0x22) break;
      if (code < 0x20) throw new JsonSyntaxError('control character in a string', pos);
      if (code !== 0x5c) {
        pos++;
        continue;
      }
      const next = text[pos + 1];
      if (next !== undefined && SIMPLE_ESCAPES.has(next)) pos += 2;
      else if (next === 'u' && HEX4.test(text.slice(pos + 2, pos + 6))) pos += 6;
      else throw new JsonSyntaxError('bad escape', pos);
    }
    this.pos = pos + 1; // past the closing quote
    return text.slice(start, this.pos);
  }

  /** After a member or an element: true past the closing bracket, false past a comma. */
  private closedBy(close: '}' | ']'): boolean {
    this.skipWs();
    const c = this.text[this.pos];
    if (c !== ',' && c !== close) {
      throw new JsonSyntaxError(`expected "," or "${close}"`, this.pos);
    }
    this.pos++;
    return c === close;
  }

  private skipWs(): void {
    while (this.pos < this.text.length && WS.has(this.text[this.pos] as string)) this.pos++;
  }
}
