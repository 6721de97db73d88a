import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicyCliConfig } from '../../src/config.js';

describe('loadPolicyCliConfig', () => {
  it('takes POLICY_DIR as written, and ./policies when it is unset or blank', () => {
    assert.equal(loadPolicyCliConfig({ POLICY_DIR: 'my/policies' }).policyDir, 'my/policies');
    assert.equal(loadPolicyCliConfig({}).policyDir, './policies');
    assert.equal(loadPolicyCliConfig({ POLICY_DIR: '  ' }).policyDir, './policies');
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(loadPolicyCliConfig({})));
  });
});
