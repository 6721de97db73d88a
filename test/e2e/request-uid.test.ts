/**
 * Issue 22, Also: two requests sent with the same client `X-Request-ID` were logged under that
 * one id, so `policy replay` could not tell them apart. Each decision line carries the server's
 * own unique id (`request_uid`) beside the client's (`request_id`), and replay keys on it.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers/net.js';
import { jsonLogLines, runCli, shippedPolicies, tempDir } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';

describe('one client X-Request-ID on two requests (issue 22, Also)', () => {
  const dir = tempDir('cedargate-uid-');
  const logDir = tempDir('cedargate-uid-log-');
  let s: Stack;

  before(async () => {
    s = await startStack({ env: { LOG_LEVEL: 'info' } });
  });
  after(async () => {
    await s?.stop();
    dir.remove();
    logDir.remove();
  });

  it('each decision line has its own request_uid beside the client request_id, and replay lists both requests apart', async () => {
    const { tenantId, owner, ownerToken: token } = await openTenant(s, 'uid');
    const headers = { 'x-request-id': 'client-chose-this' };
    for (let i = 0; i < 2; i++) {
      const r = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant: tenantId, headers });
      assert.equal(r.status, 200, r.text);
      assert.equal(
        r.headers.get('x-request-id'),
        'client-chose-this',
        'the client still gets its id',
      );
    }
    const lines = () =>
      jsonLogLines(s.process.output()).filter(
        (l) => l['msg'] === 'decision' && l['request_id'] === 'client-chose-this',
      );
    await waitFor(() => lines().length === 2, 5000, 'both decision lines');
    const uids = lines().map((l) => l['request_uid']);
    assert.ok(
      uids.every((u) => typeof u === 'string' && u !== 'client-chose-this'),
      JSON.stringify(lines()),
    );
    assert.notEqual(uids[0], uids[1], 'two requests, two unique ids');

    // A candidate that denies everything changes both answers: replay must name both requests.
    cpSync(shippedPolicies, dir.path, { recursive: true });
    writeFileSync(
      join(dir.path, 'zz-deny-all.cedar'),
      '@id("deny-all")\n@notice("Everything is denied.")\nforbid (principal, action, resource);\n',
    );
    const log = join(logDir.path, 'decisions.log');
    writeFileSync(
      log,
      lines()
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const r = await runCli(['policy', 'replay', log, '--against', dir.path, '--json'], {});
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as {
      classes: { count: number; requestIds: string[]; requestUids: string[] }[];
    };
    assert.equal(report.classes.length, 1, r.stdout);
    assert.equal(report.classes[0]?.count, 2);
    assert.deepEqual(
      report.classes[0]?.requestUids,
      uids,
      'replay tells them apart by the unique id',
    );
    assert.deepEqual(report.classes[0]?.requestIds, ['client-chose-this', 'client-chose-this']);
  });
});
