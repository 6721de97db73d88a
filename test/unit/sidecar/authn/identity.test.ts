/**
 * The identity configuration in force (issue 23 items 1, 4, 6): a discovery document of another
 * issuer stops the start in one line; an unreachable key server does not (not ready instead);
 * ISSUERS_FILE reloads keep the last good file and say what broke; SIGHUP refetches the keys.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../../src/config.js';
import { openIdentity } from '../../../../src/sidecar/authn/identity.js';
import { keySourceOf } from '../../../../src/sidecar/parts.js';
import { startKeyServer, type KeyServer } from '../../../helpers/key-server.js';
import { waitFor } from '../../../helpers/net.js';
import { tempDir } from '../../../helpers/process.js';
import { createSigner, jwksOf, silentLogger } from '../../../helpers/tokens.js';

/** Serves one discovery document naming `issuerOf(base)` and a jwks_uri. */
async function discoveryServer(
  issuerOf: (base: string) => string,
): Promise<{ base: string; close(): Promise<void>; server: Server }> {
  let base = '';
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: issuerOf(base), jwks_uri: `${base}/jwks` }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, server, close: () => new Promise((r) => server.close(() => r())) };
}

const open = (env: Record<string, string>) => {
  const config = loadConfig('sidecar', env);
  return openIdentity(config, {
    keySource: () => keySourceOf(config, silentLogger),
    logger: silentLogger,
  });
};

describe('openIdentity', () => {
  it('JWT_ISSUER whose discovery document names it with a trailing slash: start refused, one line, both spellings', async () => {
    const d = await discoveryServer((base) => `${base}/`);
    try {
      await assert.rejects(open({ JWT_ISSUER: d.base, JWT_AUDIENCE: 'a' }), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /^JWT_ISSUER: /);
        assert.ok(
          e.message.includes(`"${d.base}/"`) && e.message.includes(`"${d.base}"`),
          e.message,
        );
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    } finally {
      await d.close();
    }
  });

  it('an unreachable issuer does not stop the start: not ready, and the reason in status', async () => {
    const identity = await open({
      JWT_ISSUER: 'http://127.0.0.1:1/',
      JWT_AUDIENCE: 'a',
      JWKS_TIMEOUT_MS: '200',
    });
    try {
      const ready = identity.trust.keysReady();
      assert.equal(ready.ok, false);
      assert.match(ready.detail, /not fetched yet: http:\/\/127\.0\.0\.1:1\//);
      const [s] = identity.status().issuers;
      assert.equal(s?.fetched, false);
      assert.equal(s?.source, 'discovery');
      assert.equal(typeof s?.last_error, 'string');
      assert.ok((s?.fetch_failures ?? 0) >= 1);
    } finally {
      identity.close();
    }
  });
});

describe('ISSUERS_FILE reload', () => {
  const dir = tempDir('cedargate-issuers-');
  const file = join(dir.path, 'issuers.yaml');
  let keys: KeyServer;
  const yaml = (issuers: string[]) =>
    `issuers:\n${issuers.map((i) => `  - issuer: ${i}\n    audience: users-api\n    jwks_url: ${keys.url}/jwks.json\n    tenants: ["*"]\n`).join('')}`;

  before(async () => {
    keys = await startKeyServer(jwksOf(await createSigner()));
  });
  after(async () => {
    await keys.close();
    dir.remove();
  });

  it('a broken file keeps the last good one and says what broke; a good one goes live; SIGHUP refetches', async () => {
    writeFileSync(file, yaml(['https://a.example/']));
    const identity = await open({ ISSUERS_FILE: file, POLICY_POLL_MS: '100' });
    try {
      assert.equal(identity.trust.keysReady().ok, true);
      assert.ok(identity.trust.find('https://a.example/') !== undefined);

      writeFileSync(file, `${yaml(['https://a.example/'])}    algorithms: [HS256]\n`);
      await identity.reload('SIGHUP');
      const refused = identity.status();
      assert.equal(refused.last_reload?.ok, false);
      assert.match(refused.last_reload?.error ?? '', /algorithms: "HS256" is not accepted/);
      assert.ok(
        identity.trust.find('https://a.example/') !== undefined,
        'the last good file serves',
      );

      writeFileSync(file, yaml(['https://a.example/', 'https://b.example/']));
      await waitFor(
        () => identity.trust.find('https://b.example/') !== undefined,
        5_000,
        'the poll',
      );
      assert.equal(identity.status().last_reload?.ok, true);
      assert.ok(identity.trust.find('https://a.example/') !== undefined);

      const asked = keys.requests.length;
      await identity.reload('SIGHUP');
      assert.ok(keys.requests.length > asked, 'SIGHUP refetched the key sets');
    } finally {
      identity.close();
    }
  });

  it('refuses a broken file at start, naming it', async () => {
    writeFileSync(file, 'issuers: nope\n');
    await assert.rejects(
      open({ ISSUERS_FILE: file }),
      /^IssuersFileError: ISSUERS_FILE .*issuers\.yaml: expected "issuers:"/,
    );
  });
});
