/**
 * The rules of `backend-check` against users backends that are not ours: a correct one (with
 * ETags of its own form) passes every rule; each deliberately broken one fails, naming the rule
 * it breaks first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkBackend, UnreachableError, type RuleResult } from '../../../src/cli/backend-check.js';
import { startFakeBackend, type BackendFlaw } from '../../helpers/fake-backend.js';
import { freePort } from '../../helpers/net.js';
import { repoRoot } from '../../helpers/process.js';
import { BACKEND_CHECK_RULES } from '../../helpers/backend-check-rules.js';

async function check(flaw: BackendFlaw): Promise<RuleResult[]> {
  const b = await startFakeBackend(flaw);
  try {
    return await checkBackend({
      baseUrl: b.url,
      tenantId: b.tenantId,
      userId: b.ownerId,
      trustSecret: b.trustSecret,
    });
  } finally {
    await b.close();
  }
}

const failedRules = (results: RuleResult[]) => results.filter((r) => !r.ok).map((r) => r.rule);

describe('backend-check rules', () => {
  it('a correct backend with opaque ETags of its own form passes every rule', async () => {
    const results = await check('none');
    assert.deepEqual(failedRules(results), [], JSON.stringify(results, null, 1));
    assert.deepEqual(
      results.map((r) => r.rule),
      BACKEND_CHECK_RULES,
    );
  });

  const cases: Array<[BackendFlaw, string[], RegExp]> = [
    ['ignores-if-match', ['if-match-412', 'delete-if-match'], /answered 200, want 412/],
    ['no-trust-check', ['trust-required'], /without the trust header answered 200/],
    ['no-tenant-scope', ['tenant-scoped'], /another tenant answered 200/],
  ];
  for (const [flaw, rules, reason] of cases) {
    it(`a backend with the flaw ${flaw} fails exactly ${rules.join(', ')}`, async () => {
      const results = await check(flaw);
      assert.deepEqual(failedRules(results), rules);
      assert.match(results.find((r) => !r.ok)?.reason ?? '', reason);
    });
  }

  // These break facts every later rule builds on: the first failure is the one that names it.
  const first: Array<[BackendFlaw, string, RegExp]> = [
    ['weak-etag', 'strong-etag', /ETag W\/"[^"]+": not a strong entity tag/],
    ['unquoted-etag', 'strong-etag', /not a strong entity tag/],
    ['roles-as-string', 'user-shape', /field roles is "admin", want an array of strings/],
  ];
  for (const [flaw, rule, reason] of first) {
    it(`a backend with the flaw ${flaw} fails ${rule} first`, async () => {
      const results = await check(flaw);
      const failed = results.find((r) => !r.ok);
      assert.equal(failed?.rule, rule, JSON.stringify(results, null, 1));
      assert.match(failed?.reason ?? '', reason);
    });
  }

  it('a backend that cannot be reached is UnreachableError, not a failed rule', async () => {
    const port = await freePort();
    await assert.rejects(
      checkBackend({
        baseUrl: `http://127.0.0.1:${port}`,
        tenantId: 't',
        userId: 'u',
        trustSecret: 'x'.repeat(16),
      }),
      UnreachableError,
    );
  });

  it('docs/backend-contract.md lists exactly the rules it runs, in order', async () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'backend-contract.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## backend-check'));
    const documented = [...section.matchAll(/^\| `([a-z0-9-]+)` +\|/gm)].map((m) => m[1]);
    assert.deepEqual(
      documented,
      (await check('none')).map((r) => r.rule),
    );
  });
});
