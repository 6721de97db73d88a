/**
 * The playground's diff job (what its worker thread runs), on a small policy set so that it is
 * quick: the edited copy's changed decisions are reported, and a copy that does not build
 * answers its problems at their line. The worker thread itself is driven in playground.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runDiffJob } from '../../../../src/sidecar/admin/playground-diff-worker.js';
import { sourcesOf } from '../../../../src/sidecar/admin/playground.js';
import { runEngineJob } from '../../../../src/sidecar/authz/engine-worker.js';
import { LIST, READ, SMALL_SCHEMA, schemaWithRoles } from '../../../helpers/small-policies.js';

describe('runDiffJob', () => {
  it('reports the requests the edited copy decides otherwise', () => {
    const base = sourcesOf({ schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] });
    const candidate = sourcesOf({
      schema: SMALL_SCHEMA,
      files: [
        { file: 'a.cedar', text: LIST },
        { file: 'b.cedar', text: READ },
      ],
    });
    const r = runDiffJob({ base, candidate, maxRequests: 100_000 });
    assert.ok(r.ok);
    assert.ok(r.report.changed > 0);
    assert.deepEqual([...new Set(r.report.classes.map((c) => c.action))], ['users:read']);
    assert.ok(
      r.report.classes.every((c) => c.before.decision === 'deny' && c.after.decision === 'allow'),
    );
  });

  it('decides both copies with the compiled decider, or says why cedar-wasm decides one (issue 25)', () => {
    const base = sourcesOf({ schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] });
    const like = '@id("nick")\npermit (principal, action, resource) when { "a" like "b*" };\n';
    const candidate = sourcesOf({
      schema: SMALL_SCHEMA,
      files: [
        { file: 'a.cedar', text: LIST },
        { file: 'b.cedar', text: like },
      ],
    });
    const r = runDiffJob({ base, candidate, maxRequests: 100_000 });
    assert.ok(r.ok);
    assert.deepEqual(r.report.deciders, {
      base: { engine: 'compiled', reason: null },
      candidate: { engine: 'wasm', reason: 'policy nick (b.cedar:1) uses `like`' },
    });
    assert.equal(r.report.changed, 0);
    // The engine-worker's decide job (the playground's edited copy) decides the same way.
    const decided = runEngineJob({
      kind: 'decide',
      dir: 'edited',
      sources: base,
      request: {
        principal: { id: 'a', tenantId: 't', roles: ['user'], isOwner: false },
        action: 'users:list',
        resource: { type: 'Tenant', id: 't' },
        context: {},
      },
    });
    assert.ok(decided.ok && decided.kind === 'decide');
    assert.deepEqual(decided.decider, { engine: 'compiled', reason: null });
  });

  it('answers the problems of a copy that does not build', () => {
    const base = sourcesOf({ schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] });
    const candidate = sourcesOf({
      schema: SMALL_SCHEMA,
      files: [
        {
          file: 'a.cedar',
          text: `${LIST}\n@id("x")\npermit (principal, action, resource)\nwhen { principal.nope };\n`,
        },
      ],
    });
    const r = runDiffJob({ base, candidate, maxRequests: 100_000 });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.problems.some((p) => p.file.endsWith('a.cedar') && p.line === 7));
  });

  it('answers, as a problem, a pair of sets too large to compare (issue 22, Also)', () => {
    // 40 roles, each told apart by a policy: far more requests than a diff decides.
    const roles = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const text = roles
      .map(
        (r, i) =>
          `@id("p${i}")\npermit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)\n` +
          `when { principal.roles.contains(Cedargate::Role::"${r}") };\n`,
      )
      .join('\n');
    const base = sourcesOf({ schema: schemaWithRoles(roles), files: [{ file: 'a.cedar', text }] });
    const candidate = sourcesOf({
      schema: schemaWithRoles(roles),
      files: [{ file: 'a.cedar', text: `${text}\n${LIST}` }],
    });
    const r = runDiffJob({ base, candidate, maxRequests: 100_000 });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : (r.problems[0]?.message ?? ''), /too many requests to compare/);
  });

  it('answers, as a problem at its line, an edited copy nested past the limit (issue 22, Also)', () => {
    const base = sourcesOf({ schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] });
    const deep = `${'('.repeat(200)}true${')'.repeat(200)}`;
    const candidate = sourcesOf({
      schema: SMALL_SCHEMA,
      files: [
        { file: 'a.cedar', text: LIST },
        {
          file: 'deep.cedar',
          text: `@id("d")\npermit (principal, action, resource)\nwhen { ${deep} };\n`,
        },
      ],
    });
    const r = runDiffJob({ base, candidate, maxRequests: 100_000 });
    assert.equal(r.ok, false);
    const p = r.ok ? undefined : r.problems[0];
    assert.equal(p?.file.endsWith('deep.cedar'), true, JSON.stringify(p));
    assert.equal(p?.line, 3);
    assert.match(p?.message ?? '', /nested more than 50 deep/);
  });
});
