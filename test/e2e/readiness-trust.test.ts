/**
 * Issue 16 item 3: a sidecar whose TRUST_SECRET differs from its backend's must not report
 * ready. /readyz makes the same trusted call a request makes, so the mismatch turns it 503 with
 * a reason, and the sidecar logs the cause at error level.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';
import { assertError } from '../helpers/contract.js';
import { waitFor } from '../helpers/net.js';

describe('readiness checks the trust secret (issue 16 item 3)', () => {
  let s: SplitStack;

  before(async () => {
    s = await startSplitStack({
      env: { TRUST_SECRET: 'backend-secret-0123456789' },
      sidecarEnv: { TRUST_SECRET: 'sidecar-secret-9876543210' },
    });
  });
  after(async () => s?.stop());

  it('sidecar and backend with different secrets: /readyz is 503 and names the trust rejection', async () => {
    const r = await fetch(`${s.adminUrl}/readyz`);
    const text = await r.text();
    const body = JSON.parse(text) as { details?: { checks?: Record<string, string> } };
    assertError({ status: r.status, body, text }, 503, 'unavailable', '/readyz');
    assert.match(body.details?.checks?.backend ?? '', /trust/i, text);
  });

  it('the trust rejection is an error-level log line naming TRUST_SECRET', async () => {
    await fetch(`${s.adminUrl}/readyz`);
    await waitFor(
      () =>
        s.sidecar
          .output()
          .split('\n')
          .some((l) => l.includes('"level":50') && l.includes('TRUST_SECRET')),
      10_000,
      `an error line naming TRUST_SECRET in\n${s.sidecar.output()}`,
    );
  });
});

describe('readiness with matching secrets (issue 16 item 3)', () => {
  let s: SplitStack;

  before(async () => {
    s = await startSplitStack({ env: { TRUST_SECRET: 'shared-secret-0123456789' } });
  });
  after(async () => s?.stop());

  it('/readyz is 200 and the backend check is ok', async () => {
    const r = await fetch(`${s.adminUrl}/readyz`);
    const body = (await r.json()) as { checks: Record<string, string> };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.checks.backend, 'ok');
  });
});
