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
import { SUPPORT_POLICIES, weakenedAdmins, withSupportRole } from '../helpers/support-role.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const underCi = process.env['CI'] === 'true';
if (!present) {
  const say = `playground browser test: no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (underCi) throw new Error(`${say}: required under CI=true`);
  process.stderr.write(`\n*** SKIPPED ${say} ***\n\n`);
}

const ARTIFACTS = join(repoRoot, 'test-artifacts');

/** What the tests read of the page's elements (no DOM types here: they run in the page). */
interface Box {
  scrollWidth: number;
  clientWidth: number;
}
interface Tagged {
  getAttribute(name: string): string | null;
}

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

  it("shows the diff as the CLI tells it: the schema first, each class's example, lines that wrap (issue 27 item 5)", async () => {
    await page.goto(`${s.adminUrl}/playground`);
    await page.waitForSelector('body[data-ready="true"]');
    // The walk-through: `support` added to the enum, and rules that let it read and rename; and
    // admins.cedar weakened (a non-owner admin may revoke admin): a class of changed decisions.
    await page.selectOption('#edited-file', 'admins.cedar');
    await page.fill('#edited-text', weakenedAdmins(await page.inputValue('#edited-text')));
    await page.selectOption('#edited-file', 'schema.cedarschema');
    await page.fill('#edited-text', withSupportRole(await page.inputValue('#edited-text')));
    await page.selectOption('#edited-file', 'self-service.cedar');
    await page.fill(
      '#edited-text',
      `${await page.inputValue('#edited-text')}\n${SUPPORT_POLICIES}`,
    );
    await page.waitForSelector('#problems[data-state="done"] li.ok');
    await page.click('#diff-run');
    await page.locator('#diff-run:enabled').waitFor({ timeout: 180_000 });

    const head = (await page.textContent('#diff-out .head')) ?? '';
    assert.match(head, /: \d+ requests \(\d+ representatives\) decided by both sets/);
    const schema = (await page.textContent('#diff-out .schema')) ?? '';
    assert.match(schema, /role `support` added: requests that carry it are refused \(422\)/);
    assert.match(
      schema,
      /\d+ requests only the candidate's API accepts, kept out of the classes; e\.g\. \{/,
    );
    const classes = page.locator('#diff-out .class');
    assert.ok((await classes.count()) > 0, 'the weakened forbid changes some decisions');
    const example = (await classes.first().locator('.example').textContent()) ?? '';
    assert.match(example, /^\s*example:\s+\{"principal":/);
    assert.ok(example.length > 300, `a line longer than the box is wide (${example.length})`);
    // It wraps: nothing in the diff box runs past its right edge.
    const [scroll, client] = await page.$eval('#diff-out', (e: Box) => [
      e.scrollWidth,
      e.clientWidth,
    ]);
    assert.ok(scroll <= client, `the diff box overflows: ${scroll} > ${client}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'playground-diff.png'), fullPage: true });
  });

  it("checks the edited copy's invariants: which hold, and each broken one's counterexample (issue 28 item 4)", async () => {
    await page.goto(`${s.adminUrl}/playground`);
    await page.waitForSelector('body[data-ready="true"]');
    // The invariants beside the live set fill the box.
    assert.match(await page.inputValue('#invariants-text'), /id: only-owner-unmakes-admins/);
    // Weaken only-owner-grants-admin: a non-owner admin may revoke admin.
    await page.selectOption('#edited-file', 'admins.cedar');
    await page.fill('#edited-text', weakenedAdmins(await page.inputValue('#edited-text')));
    await page.waitForSelector('#problems[data-state="done"] li.ok');
    await page.fill('#check-users', '3');
    await page.click('#check-run');
    await page.locator('#check-run:enabled').waitFor({ timeout: 180_000 });

    const broken = page.locator('#check-out li.broken');
    assert.deepEqual(
      await broken.evaluateAll((lis: Tagged[]) => lis.map((li) => li.getAttribute('data-id'))),
      ['only-owner-unmakes-admins'],
    );
    const shown = (await broken.first().textContent()) ?? '';
    assert.match(shown, /FAIL {2}only-owner-unmakes-admins/);
    assert.match(shown, /start: owner \[admin\], /);
    assert.match(
      shown,
      /1\. u\d \[admin[^\]]*\] users:update u\d .*\(allowed by admins-manage-users\)/,
    );
    assert.match(shown, /breaks it: request 1/);
    assert.ok((await page.locator('#check-out li.holds').count()) >= 5);
    assert.match(
      (await page.textContent('#check-out .head')) ?? '',
      /of \d+ invariants hold \(3 users, /,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'playground-check.png'), fullPage: true });
  });
});
