import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  coverageOf,
  coveragePercent,
  meetsCoverage,
  renderCoverage,
} from '../../../../src/policy/authoring/coverage.js';
import type { CoverageReport } from '../../../../src/policy/authoring/coverage.js';
import { compileLoadedSet, loadPolicySet } from '../../../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../../../src/policy/policy-set.js';
import {
  listTestFiles,
  readTestFile,
  runSuite,
} from '../../../../src/policy/authoring/test-suite.js';
import type { FileResult } from '../../../../src/policy/authoring/test-suite.js';
import { writePolicyFixture } from '../../../helpers/policy-fixture.js';
import { tempDir } from '../../../helpers/process.js';

const fixture = tempDir('cedargate-coverage-');
after(() => fixture.remove());
let set: LoadedPolicySet;
let results: FileResult[];
before(async () => {
  writePolicyFixture(fixture.path);
  set = await loadPolicySet(fixture.path);
  const compiled = compileLoadedSet('coverage-test', set);
  const files = await Promise.all(
    (await listTestFiles(join(fixture.path, 'tests'))).map((p) => readTestFile(p)),
  );
  results = runSuite(files, { roles: set.schema.roles, decide: (r) => compiled.authorize(r) });
});

describe('coverageOf', () => {
  it('counts, per policy, the cases whose decision it determined', () => {
    assert.deepEqual(
      results.flatMap((f) => f.cases.map((c) => [c.name, c.failure, c.policies])),
      [
        ['no reading across tenants', null, ['cross']],
        ['a member lists: their tenant', null, ['list']],
        // denied because nothing permits: no policy determined it
        ['another tenant is not listed', null, []],
      ],
    );
    const r = coverageOf(set.policies, results);
    assert.deepEqual(
      r.policies.map((p) => [p.file, p.line, p.column, p.effect, p.id, p.cases]),
      [
        ['a.cedar', 1, 1, 'permit', 'list', 1],
        ['a.cedar', 9, 1, 'permit', 'read', 0],
        ['b.cedar', 2, 1, 'forbid', 'cross', 1],
      ],
    );
    assert.equal(r.covered, 2);
    assert.equal(r.total, 3);
    assert.equal(coveragePercent(r), '66.7');
  });

  it('counts a failing case too: its decision was still determined by the policy', () => {
    const failing = results.map((f) => ({
      ...f,
      cases: f.cases.map((c) => ({ ...c, failure: 'expected allow, got deny' })),
    }));
    assert.equal(coverageOf(set.policies, failing).covered, 2);
  });

  it('renders a summary, then per file each policy at file:line:column', () => {
    assert.equal(
      renderCoverage(coverageOf(set.policies, results), fixture.path),
      [
        "coverage: 2 of 3 policies determined at least one case's decision (66.7%)",
        'a.cedar: 1 of 2',
        `  ${join(fixture.path, 'a.cedar')}:1:1: permit list: 1 case`,
        `  ${join(fixture.path, 'a.cedar')}:9:1: permit read: NOT EXERCISED: no case has this policy determine its decision`,
        'b.cedar: 1 of 1',
        `  ${join(fixture.path, 'b.cedar')}:2:1: forbid cross: 1 case`,
      ].join('\n'),
    );
  });
});

describe('meetsCoverage', () => {
  const r: CoverageReport = { policies: [], covered: 2, total: 3 };
  it('compares with the figure as printed', () => {
    assert.equal(meetsCoverage(r, 66), true);
    assert.equal(meetsCoverage(r, 66.7), true);
    assert.equal(meetsCoverage(r, 66.8), false);
    assert.equal(meetsCoverage(r, 100), false);
    assert.equal(meetsCoverage({ ...r, covered: 3 }, 100), true);
  });
  it('counts an empty set as fully covered', () => {
    assert.equal(coveragePercent({ policies: [], covered: 0, total: 0 }), '100.0');
  });
});
