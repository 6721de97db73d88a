/**
 * `cedargate backend-check` as a real process: our own `cedargate backend` passes every rule
 * (exit 0); a users backend that is not ours and is broken on purpose fails, naming the rule
 * (exit 1); a wrong command line or a backend that is not there is exit 2.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { freePort, waitFor } from '../helpers/net.js';
import {
  runCli,
  shippedPolicies,
  startCli,
  tempDir,
  type RunningProcess,
} from '../helpers/process.js';
import { BACKEND_CHECK_RULES } from '../helpers/backend-check-rules.js';
import { createTenantWithCli } from '../helpers/stack.js';

const RULES = BACKEND_CHECK_RULES;

describe('cedargate backend-check', () => {
  const data = tempDir('cedargate-e2e-backend-check-');
  const secret = randomBytes(16).toString('hex');
  let backend: RunningProcess;
  let url = '';
  let tenantId = '';
  let ownerId = '';

  before(async () => {
    const port = await freePort();
    const env = {
      BACKEND_PORT: String(port),
      BACKEND_HOST: '127.0.0.1',
      DATA_DIR: join(data.path, 'data'),
      POLICY_DIR: shippedPolicies,
      TRUST_SECRET: secret,
    };
    backend = startCli(['backend'], env);
    url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 20_000, 'cedargate backend');
    const t = await createTenantWithCli(env, 'checked');
    tenantId = t.tenantId;
    ownerId = t.owner.id;
  });
  after(async () => {
    await backend?.stop();
    data.remove();
  });

  it('passes every rule against our own backend, and exits 0', async () => {
    const r = await runCli(['backend-check', url, '--tenant', tenantId, '--user', ownerId], {
      TRUST_SECRET: secret,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(
      lines.slice(0, -1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      RULES.map((rule) => `PASS ${rule}`),
    );
    assert.equal(lines.at(-1), `${RULES.length} passed, 0 failed`);
  });

  it('leaves no scratch user behind', async () => {
    const r = await fetch(`${url}/v1/users?limit=200`, {
      headers: { 'x-cedargate-trust': secret, 'x-tenant-id': tenantId },
    });
    const page = (await r.json()) as { users: { id: string }[] };
    assert.deepEqual(
      page.users.map((u) => u.id),
      [ownerId],
    );
  });

  for (const [flaw, rule] of [
    ['ignores-if-match', 'if-match-412'],
    ['weak-etag', 'strong-etag'],
  ] as const) {
    it(`exits 1 naming ${rule} against a backend with the flaw ${flaw}`, async () => {
      const fake = await startFakeBackend(flaw);
      try {
        const r = await runCli(
          [
            'backend-check',
            fake.url,
            '--tenant',
            fake.tenantId,
            '--user',
            fake.ownerId,
            '--trust-secret',
            fake.trustSecret,
          ],
          {},
        );
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^FAIL  ${rule} `, 'm'));
        assert.match(r.stderr, new RegExp(`rules failed: .*${rule}`));
      } finally {
        await fake.close();
      }
    });
  }

  it('exits 2 with one line for a wrong command line or a backend that is not there', async () => {
    const env = { TRUST_SECRET: secret };
    const ids = ['--tenant', 'T', '--user', 'U'];
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['backend-check', ...ids], env, /missing URL/],
      [['backend-check', 'not a url', ...ids], env, /URL: not a URL/],
      [['backend-check', 'ftp://x', ...ids], env, /must be http: or https:/],
      [['backend-check', url, '--user', 'U'], env, /missing --tenant/],
      [['backend-check', url, ...ids], { TRUST_SECRET: '' }, /missing --trust-secret/],
      [['backend-check', url, ...ids, '--timeout-ms', '0'], env, /--timeout-ms/],
      [['backend-check', `http://127.0.0.1:${await freePort()}`, ...ids], env, /cannot reach/],
    ];
    for (const [args, e, message] of cases) {
      const r = await runCli(args, e);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
