/**
 * security.md line 37 (issue 11 item 9): a connection answered for slow or malformed framing is
 * released, not half-closed and kept. A slowloris keeps trickling header bytes after the answer
 * and never closes its side (and, in one case, never reads): the server must destroy the socket
 * soon after its answer, or it holds a descriptor for as long as the client cares to trickle.
 * Both listening processes are checked, the sidecar and the backend, over raw sockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trickleUntilReleased, type HeldOpenResult } from '../helpers/raw-http.js';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';
import { startHop, type Hop } from '../helpers/hop.js';

const HEADERS_TIMEOUT_MS = 600;
/** Far above the headers timeout plus the linger: the server must have let go by then. */
const RELEASE_BOUND_MS = HEADERS_TIMEOUT_MS + 8000;

/** A request head cut off inside a header value: the trickle that follows extends it forever. */
const SLOW_HEAD = 'GET /v1/users HTTP/1.1\r\nHost: x\r\nX-Slow: ';
/** A head node's parser refuses (a space inside a header name), then the same trickle. */
const MALFORMED_HEAD = 'GET /v1/users HTTP/1.1\r\nHost: x\r\nBad Name: y\r\nX-Slow: ';

function assertReleased(ex: HeldOpenResult, what: string): void {
  assert.ok(
    ex.closedByServer,
    `${what}: the server still held the connection after ${RELEASE_BOUND_MS} ms` +
      ` (it had ${ex.endedByServer ? '' : 'not '}ended its side)`,
  );
}

function assertAnswered(ex: HeldOpenResult, status: number, code: string): void {
  assert.equal(ex.responses.length, 1, JSON.stringify(ex.responses));
  const [r] = ex.responses;
  assert.equal(r?.status, status);
  assert.equal((r?.json as { code?: string } | undefined)?.code, code);
}

describe('raw error answers release the socket (security.md 37)', () => {
  let hop: Hop;
  let st: SplitStack;
  let sidecarPort: number;
  let backendPort: number;

  before(async () => {
    hop = await startHop();
    st = await startSplitStack({
      env: { HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), REQUEST_TIMEOUT_MS: '2000' },
      upstream: (backendUrl) => {
        hop.target = backendUrl;
        return hop.url;
      },
    });
    sidecarPort = Number(new URL(st.url).port);
    backendPort = Number(new URL(st.backendUrl).port);
  });
  after(async () => {
    await st?.stop();
    await hop?.close();
  });

  const trickle = (port: number, head: string, read: boolean) =>
    trickleUntilReleased(port, head, { read, maxMs: RELEASE_BOUND_MS });

  it('sidecar: headers trickling past HEADERS_TIMEOUT_MS → 408 request_timeout, then the socket is destroyed', async () => {
    const ex = await trickle(sidecarPort, SLOW_HEAD, true);
    assertAnswered(ex, 408, 'request_timeout');
    assertReleased(ex, 'sidecar, slow headers');
  });

  it('sidecar: a slowloris that never reads is cut off too', async () => {
    assertReleased(await trickle(sidecarPort, SLOW_HEAD, false), 'sidecar, never reading');
  });

  it('sidecar: malformed framing → 400 invalid_input, then the socket is destroyed', async () => {
    const ex = await trickle(sidecarPort, MALFORMED_HEAD, true);
    assertAnswered(ex, 400, 'invalid_input');
    assertReleased(ex, 'sidecar, malformed head');
  });

  it('backend: headers trickling past HEADERS_TIMEOUT_MS → 408 request_timeout, then the socket is destroyed', async () => {
    const ex = await trickle(backendPort, SLOW_HEAD, true);
    assertAnswered(ex, 408, 'request_timeout');
    assertReleased(ex, 'backend, slow headers');
  });

  it('backend: a slowloris that never reads is cut off too', async () => {
    assertReleased(await trickle(backendPort, SLOW_HEAD, false), 'backend, never reading');
  });

  it('backend: malformed framing → 400 invalid_input, then the socket is destroyed', async () => {
    const ex = await trickle(backendPort, MALFORMED_HEAD, true);
    assertAnswered(ex, 400, 'invalid_input');
    assertReleased(ex, 'backend, malformed head');
  });

  it('backend: malformed framing, a client that never reads → the socket is destroyed', async () => {
    assertReleased(await trickle(backendPort, MALFORMED_HEAD, false), 'backend, never reading');
  });

  it('nothing reached the backend through the sidecar, and both keep serving', async () => {
    assert.equal(hop.seen(), 0);
    assert.equal((await fetch(`${st.backendUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${st.adminUrl}/healthz`)).status, 200);
  });
});
