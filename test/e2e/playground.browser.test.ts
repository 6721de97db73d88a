/**
 * The playground page in a real browser: playwright-core driving Debian's Chromium against a
 * running `start`. Loads the page, edits a policy, runs a request, reads both answers and a
 * validation error from the page, and saves a screenshot under test-artifacts/. Never downloads
 * a browser: without /usr/bin/chromium it skips loudly, and fails under CI=true.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const underCi = process.env['CI'] === 'true';
if (!present) {
  const say = `playground browser test: no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (underCi) throw new Error(`${say}: required under CI=true`);
  process.stderr.write(`\n*** SKIPPED ${say} ***\n\n`);
}

const ARTIFACTS = join(repoRoot, 'test-artifacts');

describe('the playground page in Chromium', { skip: !present && 'no Chromium' }, () => {
  let s: Stack;
  let browser: Browser;
  let page: Page;
  before(async () => {
    s = await startStack({ env: { PLAYGROUND: 'true' } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
      timeout: 60_000,
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    page.setDefaultTimeout(30_000);
  });
  after(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('loads, edits a policy, decides a request by both sets and shows a validation error', async () => {
    await page.goto(`${s.adminUrl}/playground`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.match((await page.textContent('#live-status')) ?? '', /live set [0-9a-f]{16}$/);
    assert.equal(await page.textContent('#problems[data-state="done"]'), 'valid');

    // Edit admins.cedar: let admins grant admin too.
    const edit =
      'unless { principal.isOwner || principal.roles.contains(Cedargate::Role::"admin") };';
    await page.selectOption('#edited-file', 'admins.cedar');
    const text = await page.inputValue('#edited-text');
    assert.ok(text.includes('unless { principal.isOwner };'));
    await page.fill('#edited-text', text.replace('unless { principal.isOwner };', edit));
    await page.waitForSelector('#problems[data-state="done"] li.ok');

    // An admin (not the owner) grants admin to a user.
    await page.selectOption('#action', 'users:update');
    await page.fill('#principal-roles', 'admin');
    await page.fill('#target-roles', 'user');
    await page.check('#body-has-roles');
    await page.fill('#body-roles', 'user, admin');
    await page.click('#decide');
    await page.waitForSelector('#answer-edited .decision');
    assert.equal(await page.textContent('#answer-live .decision'), 'DENY');
    assert.equal(await page.textContent('#answer-edited .decision'), 'ALLOW');
    const liveAnswer = (await page.textContent('#answer-live .out')) ?? '';
    assert.match(liveAnswer, /only-owner-grants-admin — \S*admins\.cedar:\d+/);
    assert.match(liveAnswer, /notice: Only the tenant owner may grant or revoke the admin role\./);
    assert.match(
      (await page.textContent('#answer-edited .out')) ?? '',
      /admins-manage-users — admins\.cedar:\d+/,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'playground-decided.png'), fullPage: true });

    // Break it: the problem is listed at its line and the line number is marked.
    const edited = await page.inputValue('#edited-text');
    const lines = edited.split('\n');
    const at = lines.findIndex((l) => l === edit);
    lines[at] = 'unless { principal.nope };';
    await page.fill('#edited-text', lines.join('\n'));
    const problem = await page.waitForSelector('#problems[data-state="done"] li.bad[data-line]');
    // Cedar points at the policy that fails to validate, which holds the edited line.
    const line = Number(await problem.getAttribute('data-line'));
    assert.ok(line <= at + 1 && line >= at - 15, `problem at line ${line}, edit at ${at + 1}`);
    assert.match(
      (await problem.textContent()) ?? '',
      new RegExp(`^admins\\.cedar:${line}:\\d+: .*nope`),
    );
    const marked = await page.locator('#edited-gutter .bad').allTextContents();
    assert.deepEqual(marked, [`${line}\n`]);
    await page.click('#decide');
    // A locator, not waitForFunction: the page's CSP (rightly) refuses string evaluation.
    await page.locator('#answer-edited .out', { hasText: 'does not validate' }).waitFor();

    await page.screenshot({ path: join(ARTIFACTS, 'playground-invalid.png'), fullPage: true });
  });
});
