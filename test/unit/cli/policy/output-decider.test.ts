/**
 * output.ts's decider line and report, through every command that prints them. Every policy
 * command decides as the sidecar does (issue 25 item 2): through the compiled decider when the
 * set compiles, with cedar-wasm deciding what it hands back, and through cedar-wasm alone,
 * saying why, when the set uses a construct the compiler does not support. Each command says
 * which engine decided: a `decider` line in its text, `decider` in its JSON.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastLine, policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped, temp } = policyDirs('cedargate-cli-decider-');

/** A copy of the shipped set with one permit using `like`, which the compiler leaves to Cedar. */
function likeCopy(): { dir: string; reason: string } {
  const dir = copyOfShipped();
  writeFileSync(
    join(dir, 'nicknames.cedar'),
    '@id("nicknames")\npermit (principal, action, resource) when { "a" like "b*" };\n',
  );
  return { dir, reason: 'policy nicknames (nicknames.cedar:1) uses `like`' };
}

const COMPILED = { engine: 'compiled', reason: null };
const wasmBecause = (reason: string) => ({ engine: 'wasm', reason });

describe('policy commands decide through the compiled decider', () => {
  it('policy test: the decider line counts the compiled decisions; a `like` set says cedar-wasm and why', async () => {
    const r = await policyCli(['test', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const passed = Number(/^(\d+) passed/.exec(lastLine(r.stdout) ?? '')?.[1]);
    const line = /^decider: compiled \((\d+) decisions, 0 handed to cedar-wasm\)$/m.exec(r.stdout);
    assert.ok(line !== null, r.stdout);
    // At least one decision per case: each case is decided by the compiled decider.
    assert.ok(Number(line[1]) >= passed, `${line[1]} decisions for ${passed} cases`);

    const { dir, reason } = likeCopy();
    const wasm = await policyCli(['test', dir]);
    assert.equal(wasm.code, 0, wasm.stdout + wasm.stderr);
    assert.match(wasm.stdout, new RegExp(`^decider: cedar-wasm \\(${escape(reason)}\\)$`, 'm'));
    assert.match(lastLine(wasm.stdout) ?? '', /^\d+ passed, 0 failed$/);
  });

  it('policy explain: `decider` in the JSON and the last line of the text', async () => {
    const args = ['--principal', 'alice', '--action', 'users:read', '--resource', 'olivia'];
    const json = await policyCli(['explain', shippedPolicies, ...args, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { decider: unknown }).decider, COMPILED);
    const text = await policyCli(['explain', shippedPolicies, ...args]);
    assert.equal(lastLine(text.stdout), 'decider: compiled');

    const { dir, reason } = likeCopy();
    const wasm = await policyCli(['explain', dir, ...args, '--json']);
    assert.equal(wasm.code, 0, wasm.stdout + wasm.stderr);
    const e = JSON.parse(wasm.stdout) as { decider: unknown; decision: string };
    assert.deepEqual(e.decider, wasmBecause(reason));
    // The same answer either way.
    assert.equal(e.decision, (JSON.parse(json.stdout) as { decision: string }).decision);
  });

  it('policy check: `decider` in the JSON, the decider line after the report', async () => {
    const invariants = join(shippedPolicies, 'invariants.yaml');
    const args = ['--invariants', invariants, '--users', '2'];
    const json = await policyCli(['check', shippedPolicies, ...args, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const report = JSON.parse(json.stdout) as { decider: unknown; decided: number };
    assert.deepEqual(report.decider, COMPILED);
    const text = await policyCli(['check', shippedPolicies, ...args]);
    assert.match(
      lastLine(text.stdout) ?? '',
      /^decider: compiled \(\d+ decisions, 0 handed to cedar-wasm\)$/,
    );

    const { dir, reason } = likeCopy();
    const wasm = await policyCli(['check', dir, ...args, '--json']);
    assert.equal(wasm.code, 0, wasm.stdout + wasm.stderr);
    assert.deepEqual(
      (JSON.parse(wasm.stdout) as { decider: unknown }).decider,
      wasmBecause(reason),
    );
  });

  it('policy diff: `deciders` per side in the JSON, one decider line in the text', async () => {
    const { dir, reason } = likeCopy();
    const json = await policyCli(['diff', shippedPolicies, dir, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const report = JSON.parse(json.stdout) as { deciders: unknown };
    assert.deepEqual(report.deciders, { base: COMPILED, candidate: wasmBecause(reason) });
    const text = await policyCli(['diff', shippedPolicies, dir]);
    assert.equal(lastLine(text.stdout), `decider: base compiled, candidate cedar-wasm (${reason})`);
  });

  it('policy replay: the candidate decided by the compiled decider, as the sidecar would', async () => {
    const log = join(temp(), 'decisions.log');
    const principal = { id: 'o', tenantId: 't', roles: ['admin'], isOwner: true };
    const request = { principal, action: 'users:list', resource: { type: 'Tenant', id: 't' } };
    writeFileSync(
      log,
      `${JSON.stringify({
        level: 30,
        msg: 'decision',
        request_id: 'r1',
        decision: 'allow',
        policies: ['tenant-members-list-users'],
        policy_version: 'v0',
        request: { ...request, context: {} },
      })}\n`,
    );
    const json = await policyCli(['replay', log, '--against', shippedPolicies, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { decider: unknown }).decider, COMPILED);
    const { dir, reason } = likeCopy();
    const text = await policyCli(['replay', log, '--against', dir]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.equal(lastLine(text.stdout), `decider: cedar-wasm (${reason})`);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
