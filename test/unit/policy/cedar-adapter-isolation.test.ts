/**
 * Cedar's wasm instance and text nested to trap it (issue 22 item 1, security.md 39): a trap in
 * an engine instance is detected and the instance replaced, with the compiled sets rebuilt in the
 * fresh one; too-deep policy text is refused at file:line:column before Cedar sees it — by
 * `buildPolicySet` (reload, playground, candidate) and by `policy validate`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compilePolicySet, parsePolicyFile } from '../../../src/policy/cedar-adapter.js';
import { enumerateRequests, planEnumeration } from '../../../src/policy/authoring/enumerate.js';
import {
  buildPolicySet,
  compileLoadedSet,
  loadPolicySet,
  PolicyLoadError,
} from '../../../src/policy/policy-set.js';
import { collectLiterals } from '../../../src/policy/request-abstraction.js';
import { parseSchema } from '../../../src/policy/schema.js';
import type { AuthzRequest } from '../../../src/policy/types.js';
import { compileLoadedSetWith } from '../../helpers/policy-engines.js';
import { runCli, shippedPolicies } from '../../helpers/process.js';
import { SMALL_SCHEMA, READ, writePolicyDir } from '../../helpers/small-policies.js';

const deep = (depth: number): string =>
  `@id("deep")\npermit (principal, action, resource)\nwhen { ${'('.repeat(depth)}true${')'.repeat(depth)} };\n`;

const readRequest = (tenant: string): AuthzRequest => ({
  principal: { id: 'p', tenantId: 't', roles: ['user'], isOwner: false },
  action: 'users:read',
  resource: { type: 'User', id: 'r', tenantId: tenant, roles: [], isOwner: false },
  context: {},
});

describe('a trap in the engine instance', () => {
  it('is detected, the instance replaced, and a compiled set goes on deciding correctly', () => {
    const parsed = parseSchema(SMALL_SCHEMA);
    assert.ok(parsed.ok);
    const compiled = compilePolicySet(
      'engine-isolation-test',
      parsed.schema,
      { read: READ },
      {
        read: { effect: 'permit', notice: null },
      },
    );
    assert.equal(compiled.authorize(readRequest('t')).allowed, true);
    // Straight into the adapter, past every pre-scan: this traps the wasm instance.
    assert.throws(() => parsePolicyFile(deep(2000)), /engine|stack|memory/i);
    const after = compiled.authorize(readRequest('t'));
    assert.deepEqual(after.errors, []);
    assert.equal(after.allowed, true);
    assert.deepEqual(after.policies, ['read']);
    assert.equal(compiled.authorize(readRequest('other')).allowed, false);
    assert.equal(parsePolicyFile(READ).ok, true);
  });
});

describe('too-deep policy text', () => {
  it('is refused by buildPolicySet at file:line:column, before Cedar sees it', () => {
    for (const depth of [80, 150, 1000]) {
      let problems;
      try {
        buildPolicySet('dir', {
          schema: { file: 'schema.cedarschema', text: SMALL_SCHEMA },
          policies: [{ file: 'deep.cedar', text: deep(depth) }],
          version: 'v',
        });
      } catch (err) {
        assert.ok(err instanceof PolicyLoadError, String(err));
        problems = err.problems;
      }
      assert.ok(problems !== undefined, `nested ${depth} deep was accepted`);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]?.file, join('dir', 'deep.cedar'));
      assert.equal(problems[0]?.line, 3);
      // The column of the parenthesis that goes one level too deep.
      assert.ok((problems[0]?.column ?? 0) > 8, JSON.stringify(problems));
      assert.match(problems[0]?.message ?? '', /nested more than \d+ deep/);
    }
  });

  it('is refused by `policy validate` with file:line:column', async () => {
    const dir = writePolicyDir('cedargate-deep-', SMALL_SCHEMA, ['deep.cedar'], {
      'deep.cedar': deep(150),
    });
    try {
      const r = await runCli(['policy', 'validate', dir.path, '--quick'], {});
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /deep\.cedar:3:\d+: .*nested more than \d+ deep/);
      assert.doesNotMatch(r.stdout + r.stderr, /memory access out of bounds/);
    } finally {
      dir.remove();
    }
  });

  it('leaves a set of ordinary depth alone (the shipped policies)', async () => {
    const r = await runCli(['policy', 'validate', shippedPolicies, '--quick'], {});
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('a policy set over the limits', () => {
  it('is refused with the limit named, before Cedar parses it', () => {
    let text = '';
    for (let i = 0; i < 10_001; i++) text += `@id("p${i}") permit (principal, action, resource);\n`;
    assert.throws(
      () =>
        buildPolicySet('dir', {
          schema: { file: 'schema.cedarschema', text: SMALL_SCHEMA },
          policies: [{ file: 'many.cedar', text }],
          version: 'v',
        }),
      (err: unknown) =>
        err instanceof PolicyLoadError &&
        /more than 10000 policies/.test(err.problems[0]?.message ?? ''),
    );
  });
});

describe('a set preparsed in chunks', () => {
  it('decides every enumerated request as the set preparsed whole does', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const whole = compileLoadedSet('chunks-whole', set, { engine: 'wasm' });
    // Chunks of 2: every slice of the shipped set is split, most answers combine several calls.
    const chunked = compileLoadedSetWith('chunks-of-2', set, { chunkSize: 2 });
    let compared = 0;
    let allowed = 0;
    for (const { request } of enumerateRequests(planEnumeration([set], collectLiterals(set)))) {
      const a = whole.authorize(request);
      assert.deepEqual(chunked.authorize(request), a, JSON.stringify(request));
      if (a.allowed) allowed++;
      if (++compared >= 3000) break;
    }
    assert.ok(allowed > 0 && allowed < compared, `${allowed} of ${compared} allowed`);
  });
});
