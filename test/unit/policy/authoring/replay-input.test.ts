/**
 * `policy replay` reads foreign input (any file, or stdin), so what it holds is bounded before it
 * is held (issue 22, Also): a line's bytes, a request id's length, and the distinct classes,
 * policy versions and refused roles its report keeps. Past a limit: a ReplayInputError naming the
 * line (the CLI prints it, exit 2); a line nested to any depth is a malformed line, never a throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReplay, parseDecisionLine } from '../../../../src/policy/authoring/replay.js';
import {
  REPLAY_LIMITS,
  ReplayInputError,
  readLogLines,
} from '../../../../src/policy/authoring/replay-input.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';

const request: AuthzRequest = {
  principal: { id: 'u', tenantId: 't', roles: ['user'], isOwner: false },
  action: 'users:list',
  resource: { type: 'Tenant', id: 't' },
  context: {},
};
const decisionLine = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({
    msg: 'decision',
    request_id: 'r1',
    decision: 'deny',
    policies: [],
    policy_version: 'v1',
    request,
    ...fields,
  });

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function linesOf(...parts: (string | Buffer)[]): Promise<string[]> {
  const out: string[] = [];
  await readLogLines(chunks(...parts), (l) => out.push(l));
  return out;
}

describe('readLogLines', () => {
  it('splits lines across chunks as readline did: CRLF, a last line without newline, UTF-8 split', async () => {
    const e = Buffer.from('é');
    assert.deepEqual(await linesOf('a\r\nb', 'c\n', '\nd'), ['a', 'bc', '', 'd']);
    assert.deepEqual(
      await linesOf(Buffer.from([0x78, e[0] ?? 0]), Buffer.from([e[1] ?? 0, 0x0a])),
      ['xé'],
    );
    assert.deepEqual(await linesOf('one\n'), ['one']);
  });

  it('refuses a line over the limit before holding it whole, naming the line', async () => {
    let yielded = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from('first\n');
      const block = Buffer.alloc(1 << 20, 0x61); // 1 MiB without a newline, for ever
      for (;;) {
        yielded += block.length;
        yield block;
      }
    }
    const seen: string[] = [];
    await assert.rejects(
      readLogLines(endless(), (l) => seen.push(l)),
      (err: unknown) =>
        err instanceof ReplayInputError &&
        err.message ===
          `line 2 is longer than ${REPLAY_LIMITS.lineBytes} bytes (a decision line is a few KiB): is this a sidecar's log?`,
    );
    assert.deepEqual(seen, ['first']);
    assert.ok(yielded <= 1 << 20, `read ${yielded} bytes before refusing`);
  });
});

describe('parseDecisionLine on pathological lines', () => {
  it('a request id longer than the sidecar ever logs is a malformed line', () => {
    const long = 'x'.repeat(REPLAY_LIMITS.idChars + 1);
    assert.deepEqual(parseDecisionLine(decisionLine({ request_id: long })), {
      kind: 'malformed',
      reason: `request_id is longer than ${REPLAY_LIMITS.idChars} characters`,
    });
    assert.deepEqual(parseDecisionLine(decisionLine({ request_uid: long })), {
      kind: 'malformed',
      reason: `request_uid is longer than ${REPLAY_LIMITS.idChars} characters`,
    });
  });

  it('JSON nested 30,000 deep is a malformed line, not a throw', () => {
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    const text = decisionLine({ request: 'X' }).replace('"X"', deep);
    assert.ok(text.length < REPLAY_LIMITS.lineBytes);
    assert.deepEqual(parseDecisionLine(text), {
      kind: 'malformed',
      reason: 'request: not an object',
    });
    const inContext = decisionLine({ request: { ...request, context: { x: 'X' } } }).replace(
      '"X"',
      deep,
    );
    assert.equal(parseDecisionLine(inContext).kind, 'malformed');
  });
});

describe('createReplay keeps a bounded report', () => {
  const replayWith = (allowed: boolean, knownRoles?: string[]) =>
    createReplay({
      against: 'cand',
      candidateVersion: 'c1',
      decide: () => ({ allowed, policies: [], notices: [], errors: [] }),
      ...(knownRoles !== undefined && { knownRoles }),
    });
  const refusedAt = (feed: (i: number) => string, replay: ReturnType<typeof replayWith>) => {
    for (let i = 0; i < 100_000; i++) {
      try {
        replay.addLine(feed(i));
      } catch (err) {
        assert.ok(err instanceof ReplayInputError, String(err));
        return { line: i + 1, message: err.message };
      }
    }
    return null;
  };

  it('more classes of changed answers than the limit: refused at the line that makes one too many', () => {
    // Each line logged as denied by another policy, denied by none now: one class each.
    const r = refusedAt((i) => decisionLine({ policies: [`p${i}`] }), replayWith(false));
    const n = REPLAY_LIMITS.classes;
    assert.deepEqual(r, {
      line: n + 1,
      message: `line ${n + 1}: more than ${n} classes of changed answers (the most a replay reports): replay a part of the log, or a candidate closer to the logged set`,
    });
  });

  it('more distinct policy versions than the limit: refused', () => {
    const r = refusedAt((i) => decisionLine({ policy_version: `v${i}` }), replayWith(false));
    const n = REPLAY_LIMITS.versions;
    assert.deepEqual(r, {
      line: n + 1,
      message: `line ${n + 1}: more than ${n} distinct policy_version values (the most a replay counts): is this a sidecar's log?`,
    });
  });

  it('more distinct roles the candidate lacks than the limit: refused', () => {
    const asking = (i: number) =>
      decisionLine({
        request: {
          ...request,
          action: 'users:create',
          resource: { type: 'Tenant', id: 't' },
          context: { rolesRequested: [`r${i}`] },
        },
      });
    const r = refusedAt(asking, replayWith(false, ['user']));
    const n = REPLAY_LIMITS.refusedRoles;
    assert.deepEqual(r, {
      line: n + 1,
      message: `line ${n + 1}: more than ${n} distinct roles the candidate's schema lacks (the most a replay counts): is this the candidate you meant?`,
    });
  });

  it('within the limits nothing is refused', () => {
    const replay = replayWith(false);
    for (let i = 0; i < 50; i++) replay.addLine(decisionLine({ policies: [`p${i % 5}`] }));
    assert.equal(replay.report().classes.length, 5);
  });
});
