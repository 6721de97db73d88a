/**
 * HTTP over a bare TCP socket, for the tests that must send what no HTTP client will: two
 * Content-Lengths, Content-Length with Transfer-Encoding, duplicate headers, control bytes,
 * request targets that are not paths, and headers that trickle in one byte at a time.
 * Responses are parsed back (Content-Length and chunked framing) so a test can count them:
 * a smuggled request shows up as one response too many.
 */
import { connect, type Socket } from 'node:net';
import type { ReplyBody } from './contract.js';

export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: ReplyBody | undefined;
  /** Whether the whole body (per its framing) has arrived. */
  complete: boolean;
}

export interface RawExchange {
  /** Everything the server sent, as latin1 text. */
  text: string;
  responses: RawResponse[];
  /** The server closed the connection (rather than the helper giving up waiting). */
  closedByServer: boolean;
  /** Milliseconds from connecting until the server closed, or until the helper gave up. */
  elapsedMs: number;
}

export interface RawOptions {
  /** Pause between chunks (the slow-client cases). Default 0. */
  intervalMs?: number;
  /**
   * After the last chunk, wait this long for more bytes before giving up (the server may keep a
   * healthy keep-alive connection open). Default 1500 ms.
   */
  idleMs?: number;
  /** Hard stop, whatever happens. Default 20 s. */
  maxMs?: number;
  /** Stop as soon as this many whole final responses have arrived (no idle wait). */
  untilResponses?: number;
}

/**
 * Connects to 127.0.0.1:`port`, writes `chunks` (a string is one chunk) and collects what
 * comes back until the server closes, or nothing arrives for `idleMs` after the last write.
 */
export function sendRaw(
  port: number,
  chunks: string | Buffer | (string | Buffer)[],
  options: RawOptions = {},
): Promise<RawExchange> {
  const list = Array.isArray(chunks) ? chunks : [chunks];
  const intervalMs = options.intervalMs ?? 0;
  const idleMs = options.idleMs ?? 1500;
  const maxMs = options.maxMs ?? 20_000;
  return new Promise((resolve) => {
    const started = Date.now();
    const received: Buffer[] = [];
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let finished = false;
    let writing = true;
    let idleTimer: NodeJS.Timeout | undefined;
    let writeTimer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      clearTimeout(writeTimer);
      clearTimeout(hardStop);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      resolve({
        text,
        responses: parseResponses(text),
        closedByServer,
        elapsedMs: Date.now() - started,
      });
    };
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      if (!writing) idleTimer = setTimeout(() => finish(false), idleMs);
    };
    const hardStop = setTimeout(() => finish(false), maxMs);
    socket.on('data', (d: Buffer) => {
      received.push(d);
      if (options.untilResponses !== undefined && !writing) {
        const got = parseResponses(Buffer.concat(received).toString('latin1'));
        if (got.length >= options.untilResponses && got.every((r) => r.complete))
          return finish(false);
      }
      armIdle();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      let i = 0;
      const writeNext = (): void => {
        if (finished) return;
        if (i >= list.length) {
          writing = false;
          armIdle();
          return;
        }
        const chunk = list[i++] as string | Buffer;
        socket.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
        if (intervalMs > 0) writeTimer = setTimeout(writeNext, intervalMs);
        else writeNext();
      };
      writeNext();
    });
  });
}

/** A request head (request line + headers, CRLF-framed) followed by `body`. */
export function rawRequestText(
  method: string,
  target: string,
  headers: [string, string][],
  body = '',
): string {
  const lines = [`${method} ${target} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Splits a byte stream of HTTP/1.1 responses into final responses (Content-Length or chunked
 * bodies); interim 1xx responses (`100 Continue`) are skipped.
 */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  while (pos < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const [statusLine = '', ...headerLines] = text.slice(pos, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (m === null) break;
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = headEnd + 4;
    const status = Number(m[1]);
    if (status < 200) {
      pos = bodyStart;
      continue;
    }
    let body = '';
    let complete = false;
    if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) break;
        const size = parseInt(text.slice(bodyStart, lineEnd), 16);
        bodyStart = lineEnd + 2;
        if (!(size > 0)) {
          bodyStart += 2; // the CRLF after the last chunk (no trailers from our servers)
          complete = bodyStart <= text.length;
          break;
        }
        body += text.slice(bodyStart, bodyStart + size);
        bodyStart += size + 2;
      }
    } else {
      const length = Number(headers['content-length'] ?? 0);
      body = text.slice(bodyStart, bodyStart + length);
      bodyStart += length;
      complete = bodyStart <= text.length;
    }
    let json: ReplyBody | undefined;
    try {
      json =
        body === ''
          ? undefined
          : (JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as ReplyBody);
    } catch {
      json = undefined;
    }
    out.push({ status, headers, body, json, complete });
    pos = bodyStart;
  }
  return out;
}

export interface HeldOpenOptions {
  /** Pause between bytes. Default 50 ms. */
  intervalMs?: number;
  /** Give up (the server still holds the connection) after this long. */
  maxMs: number;
  /**
   * Whether the client reads what the server sends. Either way it ignores the server's end of
   * the stream and keeps writing, as a slowloris does.
   */
  read: boolean;
}

export interface HeldOpenResult {
  /** The server let go of the connection: the socket closed or a write failed (reset, EPIPE). */
  closedByServer: boolean;
  /** Whether the server ended its side (FIN) before that, as seen by a reading client. */
  endedByServer: boolean;
  /** What the server answered (only when `read`). */
  responses: RawResponse[];
  /** How it ended: 'close', the error code, or 'gave up'. */
  how: string;
}

/**
 * Connects, writes `prefix` at once and then keeps writing `x` one byte at a time, never closing
 * its side, until the server releases the socket or `maxMs` passes. `prefix` should end inside a
 * header value so the trickle extends it.
 */
export function trickleUntilReleased(
  port: number,
  prefix: string,
  options: HeldOpenOptions,
): Promise<HeldOpenResult> {
  const intervalMs = options.intervalMs ?? 50;
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    // allowHalfOpen: the server's FIN must not make this side close; only the server's release counts.
    const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let finished = false;
    let endedByServer = false;
    const finish = (closedByServer: boolean, how: string): void => {
      if (finished) return;
      finished = true;
      clearInterval(writer);
      clearTimeout(giveUp);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      resolve({ closedByServer, endedByServer, responses: parseResponses(text), how });
    };
    if (options.read) socket.on('data', (d: Buffer) => received.push(d));
    else socket.pause();
    socket.on('end', () => (endedByServer = true));
    socket.on('close', () => finish(true, 'close'));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(true, err.code ?? err.message));
    socket.on('connect', () => socket.write(Buffer.from(prefix, 'latin1')));
    const writer = setInterval(() => {
      if (!finished && !socket.connecting) socket.write('x');
    }, intervalMs);
    const giveUp = setTimeout(() => finish(false, 'gave up'), options.maxMs);
  });
}
