/**
 * Trialling a policy change before it ships, through the real `start` process: a candidate set
 * in shadow (CANDIDATE_POLICY_DIR) decides every request beside the enforced one and counts the
 * disagreements of a known stream exactly, without changing one answer; the decision log the
 * sidecar wrote at info, replayed with `policy replay` against the same candidate, finds exactly
 * the requests the change flips, and against the shipped set none. A candidate that does not
 * load keeps the sidecar serving and shows in /status until it is fixed; in shadow mode
 * (ENFORCE=false) the enforced set alone marks the answer.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { runCli, shippedPolicies, tempDir } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';

/** The change on trial: admins who are not the owner may grant and revoke admin. */
function candidateDir(): { path: string; remove: () => void } {
  const dir = tempDir('cedargate-candidate-');
  cpSync(shippedPolicies, dir.path, { recursive: true });
  const admins = join(dir.path, 'admins.cedar');
  const text = readFileSync(admins, 'utf8');
  const start = text.indexOf('@id("only-owner-grants-admin")');
  const end = text.indexOf('@id("only-owner-creates-admins")');
  assert.ok(start > 0 && end > start, 'admins.cedar holds only-owner-grants-admin');
  writeFileSync(admins, text.slice(0, start) + text.slice(end));
  return dir;
}

interface CandidateStatus {
  dir: string;
  policies: { live: { version: string }; lastReload: unknown } | null;
  loadProblems: { file: string; line: number; message: string }[] | null;
  decisions: Record<'agree' | 'disagree' | 'dropped' | 'unloaded', number>;
  pending: number;
}

async function candidateStatus(s: Stack): Promise<CandidateStatus> {
  const body = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
    candidate: CandidateStatus | null;
  };
  assert.ok(body.candidate !== null, 'the candidate shows in /status');
  return body.candidate;
}

const compared = (c: CandidateStatus) =>
  c.decisions.agree + c.decisions.disagree + c.decisions.dropped + c.decisions.unloaded;

/** The value of one sample of the metrics text, 0 when absent. */
async function metric(s: Stack, sample: string): Promise<number> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

describe('a candidate set in shadow, and replaying the decision log', () => {
  const candidate = candidateDir();
  let s: Stack;
  let tenant: string;
  let admin: User;
  let admin2: User;
  let user: User;
  let viewer: User;
  const tokens: Record<string, string> = {};

  before(async () => {
    const t = await startTenantStack('shadow', {
      env: { LOG_LEVEL: 'info', CANDIDATE_POLICY_DIR: candidate.path },
    });
    ({ stack: s, tenantId: tenant, ownerToken: tokens['owner'] } = t);
    [
      { user: admin, token: tokens['admin'] },
      { user: admin2 },
      { user, token: tokens['user'] },
      { user: viewer, token: tokens['viewer'] },
    ] = await t.seed(
      ['Ada Admin', ['admin']],
      ['Bob Admin', ['admin']],
      ['Uma User', ['user']],
      ['Vic Viewer', ['viewer']],
    );
  });
  after(async () => {
    await s?.stop();
    candidate.remove();
  });

  /** The known stream: request id, who, what, and the status the ENFORCED set answers. */
  const stream = () =>
    [
      ['r-read', 'viewer', 'GET', `/v1/users/${admin.id}`, undefined, 200],
      ['r-list', 'user', 'GET', '/v1/users', undefined, 200],
      ['r-own-name', 'user', 'PUT', `/v1/users/${user.id}`, { name: 'Uma U.' }, 200],
      ['r-admin-grants', 'admin', 'PUT', `/v1/users/${user.id}`, { roles: ['user', 'admin'] }, 403],
      ['r-admin-revokes', 'admin', 'PUT', `/v1/users/${admin2.id}`, { roles: ['user'] }, 403],
      ['r-admin-viewer', 'admin', 'PUT', `/v1/users/${viewer.id}`, { roles: ['user'] }, 200],
      ['r-user-grants', 'user', 'PUT', `/v1/users/${viewer.id}`, { roles: ['admin'] }, 403],
      ['r-viewer-deletes', 'viewer', 'DELETE', `/v1/users/${admin.id}`, undefined, 403],
      ['r-owner-grants', 'owner', 'PUT', `/v1/users/${viewer.id}`, { roles: ['user'] }, 200],
    ] as const;

  it('counts the disagreements of a known stream exactly; the enforced set alone answers', async () => {
    const start = await candidateStatus(s);
    assert.ok(start.policies !== null, 'the candidate loaded');
    const disagreeMetric = await metric(
      s,
      'cedargate_candidate_decisions_total{agreement="disagree"}',
    );
    for (const [id, who, method, path, body, expected] of stream()) {
      const r = await s.call(method, path, {
        token: tokens[who] as string,
        tenant,
        headers: { 'x-request-id': id },
        ...(body === undefined ? {} : { body }),
      });
      assert.equal(r.status, expected, `${id}: ${r.text}`);
    }
    // Nothing the candidate allowed and the enforced set denied reached the backend.
    const forwarded = s.recorder.forwarded().map((q) => q.headers['x-request-id']);
    assert.ok(forwarded.includes('r-admin-viewer'), 'request ids reach the backend');
    for (const denied of ['r-admin-grants', 'r-admin-revokes', 'r-user-grants'])
      assert.ok(!forwarded.includes(denied), `${denied} never reaches the backend`);

    await waitFor(
      async () => compared(await candidateStatus(s)) === compared(start) + stream().length,
      20_000,
      'the candidate to decide the whole stream',
    );
    const end = await candidateStatus(s);
    // Admin grants and revokes flip deny → allow; the user's grant is still denied, but no
    // longer by only-owner-grants-admin (its notice goes away): three disagreements.
    assert.equal(end.decisions.disagree - start.decisions.disagree, 3);
    assert.equal(end.decisions.agree - start.decisions.agree, stream().length - 3);
    assert.equal(end.decisions.dropped, 0);
    assert.equal(
      (await metric(s, 'cedargate_candidate_decisions_total{agreement="disagree"}')) -
        disagreeMetric,
      3,
    );

    const lines = s.process
      .output()
      .split('\n')
      .filter((l) => l.includes('"candidate_disagrees"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byId = new Map(lines.map((l) => [l['request_id'], l]));
    assert.deepEqual([...byId.keys()].sort(), [
      'r-admin-grants',
      'r-admin-revokes',
      'r-user-grants',
    ]);
    assert.deepEqual(byId.get('r-admin-grants')?.['enforced'], {
      decision: 'deny',
      policies: ['only-owner-grants-admin'],
    });
    assert.deepEqual(byId.get('r-admin-grants')?.['candidate'], {
      decision: 'allow',
      policies: ['admins-manage-users'],
      notices: [],
    });
    assert.equal(byId.get('r-admin-grants')?.['level'], 40);
    assert.equal(byId.get('r-user-grants')?.['kind'], 'policies');
  });

  it('the log it wrote, replayed against the candidate, finds exactly the flipped requests', async () => {
    const log = tempDir('cedargate-replay-');
    try {
      const file = join(log.path, 'sidecar.log');
      writeFileSync(file, s.process.output());
      const r = await runCli(['policy', 'replay', file, '--against', candidate.path, '--json'], {});
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as {
        replayed: number;
        changed: number;
        classes: {
          kind: string;
          before: { decision: string };
          after: { decision: string };
          requestIds: string[];
        }[];
      };
      const flipped = report.classes
        .filter((c) => c.kind === 'decision')
        .flatMap((c) => c.requestIds)
        .sort();
      assert.deepEqual(flipped, ['r-admin-grants', 'r-admin-revokes']);
      for (const c of report.classes.filter((x) => x.kind === 'decision'))
        assert.deepEqual([c.before.decision, c.after.decision], ['deny', 'allow']);
      const reasons = report.classes
        .filter((c) => c.kind === 'policies')
        .flatMap((c) => c.requestIds);
      assert.deepEqual(reasons, ['r-user-grants']);
      assert.equal(report.changed, 3);
      // Every decision of the stream, and the owner's creates before it, were replayed.
      assert.ok(report.replayed >= stream().length + 4, `replayed ${report.replayed}`);

      const same = await runCli(['policy', 'replay', file, '--against', shippedPolicies], {});
      assert.equal(same.code, 0, same.stdout + same.stderr);
      assert.match(same.stdout, /^no logged request changes its answer$/m);

      // The log carries facts and ids, never a name, an email or the credential.
      const decisions = s.process
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"decision"'));
      assert.ok(decisions.length >= stream().length);
      for (const l of decisions) {
        assert.doesNotMatch(l, /Uma|Ada|Vic|@shadow|\.test"|eyJ/);
      }
    } finally {
      log.remove();
    }
  });
});

describe('a candidate set that does not load', () => {
  const dir = tempDir('cedargate-candidate-broken-');
  let s: Stack;
  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    writeFileSync(
      join(dir.path, 'broken.cedar'),
      '@id("broken")\npermit (principal, action, resource) when { nope };\n',
    );
    s = await startStack({ env: { CANDIDATE_POLICY_DIR: dir.path, POLICY_POLL_MS: '200' } });
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  it('keeps the sidecar serving, shows in /status, and loads once fixed', async () => {
    const { tenantId, owner, ownerToken: token } = await openTenant(s, 'broken');
    const r = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant: tenantId });
    assert.equal(r.status, 200, r.text);
    const broken = await candidateStatus(s);
    assert.equal(broken.policies, null);
    assert.ok(broken.loadProblems !== null);
    assert.match(broken.loadProblems[0]?.file ?? '', /broken\.cedar$/);
    assert.ok(broken.decisions.unloaded >= 1, JSON.stringify(broken.decisions));

    writeFileSync(join(dir.path, 'broken.cedar'), '// fixed\n');
    await waitFor(
      async () => (await candidateStatus(s)).policies !== null,
      20_000,
      'the fixed candidate to load',
    );
    const fixed = await candidateStatus(s);
    assert.equal(fixed.loadProblems, null);
    const again = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant: tenantId });
    assert.equal(again.status, 200);
    await waitFor(async () => (await candidateStatus(s)).decisions.agree >= 1, 20_000, 'agree');
  });
});

describe('a candidate set beside shadow mode (ENFORCE=false)', () => {
  const candidate = candidateDir();
  let s: Stack;
  before(async () => {
    s = await startStack({ env: { ENFORCE: 'false', CANDIDATE_POLICY_DIR: candidate.path } });
  });
  after(async () => {
    await s?.stop();
    candidate.remove();
  });

  it('the enforced set alone marks the answer, where the candidate would allow', async () => {
    const { tenantId, seed } = await openTenant(s, 'shadowmode');
    const [admin, { user }] = await seed(['Ann Admin', ['admin']], ['Udo User', ['user']]);
    const start = await candidateStatus(s);
    const r = await s.call('PUT', `/v1/users/${user.id}`, {
      token: admin.token,
      tenant: tenantId,
      headers: { 'x-request-id': 'r-shadow-grant' },
      body: { roles: ['user', 'admin'] },
    });
    // Shadow mode forwards the enforced set's denial, marked; the candidate's allow changes nothing.
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-cedargate-decision'), 'deny');
    await waitFor(
      async () => (await candidateStatus(s)).decisions.disagree === start.decisions.disagree + 1,
      20_000,
      'the candidate to disagree',
    );
  });
});
