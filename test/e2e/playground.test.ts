/**
 * The playground's JSON questions on the admin port of a real `start`: decide by the live set and
 * an edited copy side by side, validation problems at their line, contract errors for bad and
 * oversized bodies, off unless PLAYGROUND says so — and nothing the page asks changes the live set.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiffReport } from '../../src/policy/authoring/diff.js';
import type { DecideAnswer, DiffAnswer, LiveSources } from '../../src/sidecar/admin/playground.js';
import { assertError } from '../helpers/contract.js';
import { policyCli, policyDirs } from '../helpers/policy-cli.js';
import { shippedPolicies } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';
import { SUPPORT_POLICIES, weakenedAdmins, withSupportRole } from '../helpers/support-role.js';

const dirs = policyDirs('cedargate-playground-');

/** The check's answer as a client reads it (docs/contract.md §6). */
type CheckAnswer =
  | {
      ok: true;
      report: { users: number; invariants: { id: string; holds: boolean }[] };
      text: string;
      counterexamples: Record<string, string[]>;
    }
  | { ok: false; problems: { file: string; line: number; column: number; message: string }[] };
/** The live set's invariants file, as `/api/live` gives it. */
const invariantsOf = (l: LiveSources) =>
  (l as { invariants?: { file: string; text: string } | null }).invariants;

/** What a diff counts, wherever it ran: the numbers a reader compares. */
const countsOf = (r: DiffReport) => ({
  requests: r.requests,
  decided: r.decided,
  changed: r.changed,
  oneSided: r.oneSided,
  expanded: r.expanded,
  schema: r.schema.map((d) => [d.kind, d.role, d.requests, d.text]),
  classes: r.classes.map((c) => [c.action, c.summary, c.count, c.matching]),
});

async function post(adminUrl: string, path: string, body: unknown, type = 'application/json') {
  const res = await fetch(`${adminUrl}/playground/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as never };
}

const GRANT = {
  action: 'users:update',
  principal: { roles: ['admin'], owner: false },
  target: { roles: ['user'], owner: false, same_user: false, other_tenant: false },
  body: { roles: ['admin', 'user'] },
};

describe('the playground API (PLAYGROUND=true)', () => {
  let s: Stack;
  let live: LiveSources;
  before(async () => {
    s = await startStack({ env: { PLAYGROUND: 'true' } });
    live = (await (await fetch(`${s.adminUrl}/playground/api/live`)).json()) as LiveSources;
  });
  after(async () => s?.stop());

  it('serves the page and the live set, in force', async () => {
    const page = await fetch(`${s.adminUrl}/playground`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /policy playground/);
    assert.equal(live.in_force, true);
    // The page says where it is served: the admin port itself, on loopback.
    const listening = (live as LiveSources & { listening?: unknown }).listening;
    assert.deepEqual(listening, {
      address: '127.0.0.1',
      port: Number(new URL(s.adminUrl).port),
      loopback: true,
    });
    assert.ok(live.files.some((f) => f.file === 'admins.cedar'));
    assert.match(live.schema, /entity Role enum/);
  });

  it('decides one request by the live set and by the edited copy, with file:line and notices', async () => {
    // The edited copy drops the forbid that keeps admin for the owner to grant.
    const files = live.files.map((f) =>
      f.file === 'admins.cedar'
        ? { ...f, text: f.text.replace('unless { principal.isOwner };', 'unless { true };') }
        : f,
    );
    const r = await post(s.adminUrl, 'decide', {
      policies: { schema: live.schema, files },
      request: GRANT,
    });
    assert.equal(r.status, 200, r.text);
    const a = r.body as DecideAnswer;
    assert.ok(a.live.ok && a.edited.ok);
    assert.equal(a.live.explanation.decision, 'deny');
    assert.deepEqual(a.live.explanation.notices, [
      'Only the tenant owner may grant or revoke the admin role.',
    ]);
    assert.match(a.live.explanation.policies[0]?.location ?? '', /admins\.cedar:\d+$/);
    assert.equal(a.edited.explanation.decision, 'allow');
    assert.deepEqual(
      a.edited.explanation.policies.map((p) => p.id),
      ['admins-manage-users'],
    );
    assert.match(a.edited.explanation.policies[0]?.location ?? '', /^admins\.cedar:\d+$/);
  });

  it("diffs with the CLI's numbers: requests, not representatives (issue 27 item 5)", async () => {
    // The walk-through's pair: the shipped set, and a copy where `support` may read and rename;
    // its admins.cedar weakened too (a non-owner admin may revoke admin), so that some requests
    // both APIs accept change: classes to count as well.
    const schema = withSupportRole(live.schema);
    const files = [
      ...live.files.map((f) =>
        f.file === 'admins.cedar' ? { ...f, text: weakenedAdmins(f.text) } : f,
      ),
      { file: 'support.cedar', text: SUPPORT_POLICIES },
    ];
    const r = await post(s.adminUrl, 'diff', { policies: { schema, files } });
    assert.equal(r.status, 200, r.text);
    const page = r.body as DiffAnswer;
    assert.ok(page.ok, r.text);
    const dir = dirs.copyOfShipped();
    for (const f of files) writeFileSync(join(dir, f.file), f.text);
    writeFileSync(join(dir, 'schema.cedarschema'), schema);
    const cli = await policyCli(['diff', shippedPolicies, dir, '--json']);
    assert.equal(cli.code, 1, cli.stderr);
    const fromCli = JSON.parse(cli.stdout) as DiffReport;
    assert.ok(
      fromCli.requests > fromCli.decided,
      'the pair has more requests than representatives',
    );
    assert.ok(
      fromCli.classes.length > 0 && fromCli.oneSided > 0,
      'classes, and one-sided requests',
    );
    assert.deepEqual(countsOf(page.report), countsOf(fromCli));
  });

  it("checks the edited copy's invariants: the weakened copy's counterexample, as the CLI prints it (issue 28 item 4)", async () => {
    // The invariants beside the live set are the page's default.
    assert.equal(invariantsOf(live)?.file, 'invariants.yaml');
    assert.match(invariantsOf(live)?.text ?? '', /id: only-owner-unmakes-admins/);
    const shipped = await post(s.adminUrl, 'check', {
      policies: { schema: live.schema, files: live.files },
      users: 3,
    });
    assert.equal(shipped.status, 200, shipped.text);
    const held = shipped.body as CheckAnswer;
    assert.ok(held.ok, shipped.text);
    assert.equal(held.report.users, 3);
    assert.ok(held.report.invariants.length >= 6);
    assert.deepEqual(
      held.report.invariants.filter((i) => !i.holds).map((i) => i.id),
      [],
    );
    assert.deepEqual(held.counterexamples, {});
    assert.match(held.text, /invariants\.yaml: (\d+) of \1 invariants hold \(3 users, /);

    // Weakened: a non-owner admin may revoke admin (only-owner-grants-admin loses rolesRemoved).
    const files = live.files.map((f) =>
      f.file === 'admins.cedar' ? { ...f, text: weakenedAdmins(f.text) } : f,
    );
    assert.notDeepEqual(files, live.files);
    const r = await post(s.adminUrl, 'check', {
      policies: { schema: live.schema, files },
      users: 3,
    });
    assert.equal(r.status, 200, r.text);
    const broken = r.body as CheckAnswer;
    assert.ok(broken.ok, r.text);
    assert.deepEqual(
      broken.report.invariants.filter((i) => !i.holds).map((i) => i.id),
      ['only-owner-unmakes-admins'],
    );
    const shown = broken.counterexamples['only-owner-unmakes-admins'] ?? [];
    assert.match(shown[0] ?? '', /^ {8}start: owner \[admin\], /);
    assert.match(
      shown[1] ?? '',
      /^ {8}1\. u\d \[admin[^\]]*\] users:update u\d \[admin[^\]]*\] -> \[[^\]]*\] \(allowed by admins-manage-users\)$/,
    );
    assert.equal(shown[2], '        breaks it: request 1');
    // The CLI's text, the same lines under the FAIL line.
    assert.ok(broken.text.includes(`FAIL  only-owner-unmakes-admins\n${shown.join('\n')}\n`));
  });

  it('checks invariants the page sends, and names what is wrong in them at their line', async () => {
    const policies = { schema: live.schema, files: live.files };
    const bad = await post(s.adminUrl, 'check', {
      policies,
      invariants: 'invariants:\n  - id: x\n    always: { user: owner, has: root }\n',
      users: 2,
    });
    assert.equal(bad.status, 200, bad.text);
    const answer = bad.body as CheckAnswer;
    assert.equal(answer.ok, false);
    const problem = answer.ok ? undefined : answer.problems[0];
    assert.equal(problem?.file, 'invariants.yaml');
    assert.equal(problem?.line, 3);
    assert.match(problem?.message ?? '', /"root" is not a role of the schema/);
    const own = await post(s.adminUrl, 'check', {
      policies,
      invariants: 'invariants:\n  - id: owner-admin\n    always: { user: owner, has: admin }\n',
      users: 2,
    });
    const mine = own.body as CheckAnswer;
    assert.ok(mine.ok, own.text);
    assert.deepEqual(
      mine.report.invariants.map((i) => [i.id, i.holds]),
      [['owner-admin', true]],
    );
    for (const [body, field, message] of [
      [{ policies, users: 7 }, 'users', /^users must be an integer from 1 to 6$/],
      [{ policies, invariants: ['x'] }, 'invariants', /^invariants must be the YAML text/],
    ] as const) {
      const e = await post(s.adminUrl, 'check', body);
      assertError(e, 400, 'invalid_input', field);
      const err = e.body as { message: string; details?: { field?: string } };
      assert.equal(err.details?.field, field);
      assert.match(err.message, message);
    }
  });

  it('shows the problems of an edited copy at their line, and decides the live side anyway', async () => {
    const files = [
      ...live.files,
      {
        file: 'broken.cedar',
        text: '@id("x")\npermit (principal, action, resource)\nwhen { principal.nope };\n',
      },
    ];
    const v = await post(s.adminUrl, 'validate', { policies: { schema: live.schema, files } });
    assert.equal(v.status, 200);
    const problems = v.body as { ok: boolean; problems: { file: string; line: number }[] };
    assert.equal(problems.ok, false);
    assert.deepEqual(
      problems.problems.map((p) => [p.file, p.line]),
      [['broken.cedar', 3]],
    );
    const d = await post(s.adminUrl, 'decide', {
      policies: { schema: live.schema, files },
      request: GRANT,
    });
    const a = d.body as DecideAnswer;
    assert.equal(a.live.ok, true);
    assert.equal(a.edited.ok, false);
  });

  it('answers bad bodies with the contract errors', async () => {
    const ok = { policies: { schema: live.schema, files: live.files }, request: GRANT };
    assertError(await post(s.adminUrl, 'decide', 'x', 'text/plain'), 415, 'unsupported_media_type');
    assertError(await post(s.adminUrl, 'decide', '{"a":1,"a":2}'), 400, 'invalid_input', 'dup');
    assertError(
      await post(s.adminUrl, 'decide', { ...ok, request: { ...GRANT, action: 'users:fly' } }),
      400,
      'invalid_input',
      'action',
    );
    assertError(
      await post(s.adminUrl, 'validate', {
        policies: { schema: live.schema, files: [{ file: '../etc/passwd', text: '' }] },
      }),
      400,
      'invalid_input',
      'file name',
    );
    assertError(
      await post(s.adminUrl, 'diff', { ...ok, max_requests: 0 }),
      400,
      'invalid_input',
      'max_requests',
    );
    const huge = { policies: { schema: 'x'.repeat(600 * 1024), files: [] } };
    assertError(await post(s.adminUrl, 'validate', huge), 413, 'payload_too_large');
    const missing = await fetch(`${s.adminUrl}/playground/api/nope`);
    assert.equal(missing.status, 404);
  });

  it('never changes the live set, whatever the page sends', async () => {
    const before = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
      policies: { live: { version: string }; reloads: unknown };
    };
    const files = live.files.map((f) => ({ ...f, text: '' }));
    await post(s.adminUrl, 'decide', { policies: { schema: live.schema, files }, request: GRANT });
    await post(s.adminUrl, 'validate', { policies: { schema: 'nonsense', files } });
    const after = (await (await fetch(`${s.adminUrl}/status`)).json()) as typeof before;
    assert.equal(after.policies.live.version, before.policies.live.version);
    assert.deepEqual(after.policies.reloads, before.policies.reloads);
    const again = (await (await fetch(`${s.adminUrl}/playground/api/live`)).json()) as LiveSources;
    assert.deepEqual(again, live);
    // And the sidecar still decides by the live set: an admin may not grant admin.
    const t = await openTenant(s, 'pgco');
    const [admin, { user }] = await t.seed(['Adm', ['admin']], ['Usr', ['user']]);
    const r = await s.call('PUT', `/v1/users/${user.id}`, {
      token: admin.token,
      tenant: t.tenantId,
      body: { roles: ['admin', 'user'] },
    });
    assertError(r, 403, 'forbidden');
  });
});

describe('the playground is off unless PLAYGROUND=true', () => {
  for (const [label, env] of [
    ['start with PLAYGROUND unset (issue 22, Also)', {}],
    ['PLAYGROUND=false', { PLAYGROUND: 'false' }],
  ] as const) {
    it(`answers 404 on the admin port: ${label}`, async () => {
      const s = await startStack({ env });
      try {
        const page = await fetch(`${s.adminUrl}/playground`);
        assert.equal(page.status, 404);
        const api = await fetch(`${s.adminUrl}/playground/api/live`);
        assert.equal(api.status, 404);
        assert.equal(((await api.json()) as { code: string }).code, 'not_found');
      } finally {
        await s.stop();
      }
    });
  }
});
