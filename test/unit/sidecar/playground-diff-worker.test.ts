/**
 * The playground's diff job (what its worker thread runs), on a small policy set so that it is
 * quick: the edited copy's changed decisions are reported, and a copy that does not build
 * answers its problems at their line. The worker thread itself is driven in playground.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runDiffJob } from '../../../src/sidecar/playground-diff-worker.js';
import { sourcesOf } from '../../../src/sidecar/playground.js';
import { LIST, READ, SMALL_SCHEMA } from '../../helpers/small-policies.js';

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
});
