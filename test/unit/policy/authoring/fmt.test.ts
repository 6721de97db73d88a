import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatPolicies } from '../../../../src/policy/authoring/fmt.js';
import { listPolicyFiles } from '../../../../src/policy/policy-files.js';
import { shippedPolicies } from '../../../helpers/process.js';

describe('formatPolicies', () => {
  it('reformats layout, keeping comments and annotations', () => {
    const text =
      '// why\n@id("a") @notice("n")   permit(principal,action,resource) when {true}; // end\n';
    const outcome = formatPolicies(text);
    assert.equal(outcome.kind, 'formatted');
    assert.ok(outcome.kind === 'formatted');
    assert.equal(
      outcome.text,
      '// why\n@id("a")\n@notice("n")\npermit (principal, action, resource)\nwhen { true }; // end\n',
    );
    assert.equal(formatPolicies(outcome.text).kind, 'unchanged');
  });

  it('reports text that does not parse', () => {
    const outcome = formatPolicies('permit (principal, action, resource) when {');
    assert.equal(outcome.kind, 'invalid');
  });

  it('refuses a formatter output that drops a comment', () => {
    const text = '// keep me\n@id("a")\npermit (principal, action, resource);\n';
    const outcome = formatPolicies(text, () => ({
      ok: true,
      formatted: '@id("a")\npermit (principal, action, resource);\n',
    }));
    assert.equal(outcome.kind, 'refused');
    assert.ok(outcome.kind === 'refused');
    assert.match(outcome.reason, /drop comment.*keep me/);
  });

  it('refuses a formatter output that changes a policy or an annotation', () => {
    const text = '@id("a")\n@notice("x")\npermit (principal, action, resource);\n';
    const outcome = formatPolicies(text, () => ({
      ok: true,
      formatted: '@id("a")\npermit (principal, action, resource);\n',
    }));
    assert.equal(outcome.kind, 'refused');
  });

  it('leaves an empty file alone', () => {
    assert.equal(formatPolicies('').kind, 'unchanged');
  });

  it('finds the shipped files already formatted', async () => {
    for (const f of await listPolicyFiles(shippedPolicies)) {
      assert.equal(
        formatPolicies(readFileSync(join(shippedPolicies, f), 'utf8')).kind,
        'unchanged',
        f,
      );
    }
  });
});
