/** Development tokens: every claim the contract names, signed by the dev key. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { devJwksPath } from '../../../../src/sidecar/authn/dev-keys.js';
import { issueDevToken } from '../../../../src/sidecar/authn/issue-token.js';
import { tempDir } from '../../../helpers/process.js';
import { T0, T0_MS, TENANT, USER } from '../../../helpers/tokens.js';

const base = {
  tenant: TENANT,
  sub: USER,
  ttlSeconds: 90,
  issuer: 'cedargate-dev',
  audience: 'cedargate',
  tenantClaim: 'tenant_id',
};

describe('issueDevToken', () => {
  it('signs iss, aud, sub, the tenant claim, iat, exp and a random jti with the dev key', async () => {
    const dir = tempDir('cedargate-issue-');
    try {
      const token = await issueDevToken(dir.path, { ...base, now: () => T0_MS + 999 });
      const jwks = JSON.parse(readFileSync(devJwksPath(dir.path), 'utf8')) as Parameters<
        typeof createLocalJWKSet
      >[0];
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
        algorithms: ['ES256'],
        currentDate: new Date(T0_MS),
      });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(protectedHeader.typ, 'JWT');
      assert.equal(protectedHeader.kid, jwks.keys[0]?.kid);
      assert.deepEqual(
        { ...payload, jti: undefined },
        {
          iss: 'cedargate-dev',
          aud: 'cedargate',
          sub: USER,
          tenant_id: TENANT,
          iat: T0,
          exp: T0 + 90,
          jti: undefined,
        },
      );
      assert.match(
        String(payload.jti),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const again = await issueDevToken(dir.path, base);
      assert.equal(decodeProtectedHeader(again).kid, protectedHeader.kid);
      assert.notEqual(again, token);
    } finally {
      dir.remove();
    }
  });

  it('uses the configured tenant claim name', async () => {
    const dir = tempDir('cedargate-issue-');
    try {
      const token = await issueDevToken(dir.path, { ...base, tenantClaim: 'org_id' });
      const payload = JSON.parse(
        Buffer.from(token.split('.')[1] ?? '', 'base64url').toString(),
      ) as Record<string, unknown>;
      assert.equal(payload.org_id, TENANT);
      assert.equal(payload.tenant_id, undefined);
    } finally {
      dir.remove();
    }
  });

  it('refuses a tenant claim that is a registered claim, and a ttl that is not positive', async () => {
    const dir = tempDir('cedargate-issue-');
    try {
      await assert.rejects(
        issueDevToken(dir.path, { ...base, tenantClaim: 'sub' }),
        /registered claim "sub"/,
      );
      await assert.rejects(issueDevToken(dir.path, { ...base, ttlSeconds: 0 }), /ttlSeconds/);
      await assert.rejects(issueDevToken(dir.path, { ...base, ttlSeconds: 1.5 }), /ttlSeconds/);
    } finally {
      dir.remove();
    }
  });
});
