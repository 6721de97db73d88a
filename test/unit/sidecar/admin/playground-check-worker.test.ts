/**
 * The playground's check job (what its worker thread runs), on a small set so that it is quick:
 * the invariants the copy breaks, each counterexample as `policy check` prints it, and the
 * problems of a copy or of invariants that do not read. The worker thread itself is driven in
 * playground.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  runCheckJob,
  type CheckJob,
} from '../../../../src/sidecar/admin/playground-check-worker.js';
import { sourcesOf } from '../../../../src/sidecar/admin/playground.js';
import {
  ADMINS_MANAGE,
  ONLY_OWNER_MAKES_ADMINS,
  schemaWithRoles,
} from '../../../helpers/small-policies.js';

const job = (over: Partial<CheckJob> = {}): CheckJob => ({
  sources: sourcesOf({
    schema: schemaWithRoles(['admin', 'user']),
    files: [{ file: 'a.cedar', text: ADMINS_MANAGE }],
  }),
  invariantsFile: 'invariants.yaml',
  invariants: ONLY_OWNER_MAKES_ADMINS,
  users: 3,
  ...over,
});

describe('runCheckJob', () => {
  it('names the invariants the copy breaks, with the counterexample as policy check prints it', () => {
    const r = runCheckJob(job());
    assert.ok(r.ok);
    assert.deepEqual(
      r.report.invariants.map((i) => [i.id, i.holds]),
      [
        ['owner-keeps-admin', true],
        ['only-owner-makes-admins', false],
      ],
    );
    const shown = r.counterexamples['only-owner-makes-admins'] ?? [];
    assert.match(shown[0] ?? '', /^ {8}start: owner \[admin\], /);
    assert.match(
      shown[1] ?? '',
      /^ {8}1\. u\d \[admin\] users:update u\d .*\(allowed by admins-manage\)$/,
    );
    assert.equal(shown.at(-1), '        breaks it: request 1');
    assert.deepEqual(Object.keys(r.counterexamples), ['only-owner-makes-admins']);
    assert.ok(r.text.includes(`FAIL  only-owner-makes-admins\n${shown.join('\n')}\n`), r.text);
    assert.equal(typeof r.report.ms, 'number');
  });

  it('answers invariants that do not read at their line, and a copy that does not build', () => {
    const bad = runCheckJob(
      job({ invariants: 'invariants:\n  - id: x\n    always: { user: owner, has: root }\n' }),
    );
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.ok ? [] : bad.problems.map((p) => [p.file, p.line, p.column]), [
      ['invariants.yaml', 3, 1],
    ]);
    assert.match(
      bad.ok ? '' : (bad.problems[0]?.message ?? ''),
      /^x\.always\.has: "root" is not a role/,
    );

    const broken = runCheckJob(
      job({
        sources: sourcesOf({
          schema: schemaWithRoles(['admin']),
          files: [
            {
              file: 'a.cedar',
              text: 'permit (principal, action, resource) when { principal.nope };',
            },
          ],
        }),
      }),
    );
    assert.equal(broken.ok, false);
    assert.ok(!broken.ok && broken.problems.some((p) => p.file === 'a.cedar' && p.line === 1));

    const tooMany = runCheckJob(job({ users: 9 }));
    assert.equal(tooMany.ok, false);
    assert.match(tooMany.ok ? '' : (tooMany.problems[0]?.message ?? ''), /from 1 to 6, not 9/);
  });
});
