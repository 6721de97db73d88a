/** Discovery (issue 23 item 1): where it looks, and the exact issuer match it requires. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  discoverJwksUri,
  discoveryUrls,
  IssuerMismatchError,
} from '../../../../src/sidecar/authn/discovery.js';

/** A fetcher serving `docs` by URL (anything else: 404), recording what was asked. */
function served(docs: Record<string, unknown>) {
  const asked: string[] = [];
  const fetchJson = (url: string) => {
    asked.push(url);
    return Promise.resolve(
      url in docs ? { status: 200, body: docs[url] } : { status: 404, body: undefined },
    );
  };
  return { asked, fetchJson };
}

describe('discovery', () => {
  it('OIDC first (issuer + path), then RFC 8414 (well-known between host and path)', () => {
    assert.deepEqual(discoveryUrls('https://id.example/'), [
      'https://id.example/.well-known/openid-configuration',
      'https://id.example/.well-known/oauth-authorization-server',
    ]);
    assert.deepEqual(discoveryUrls('https://id.example/realms/acme'), [
      'https://id.example/realms/acme/.well-known/openid-configuration',
      'https://id.example/.well-known/oauth-authorization-server/realms/acme',
    ]);
  });

  it('uses jwks_uri of a document naming the issuer exactly', async () => {
    const { fetchJson } = served({
      'https://id.example/.well-known/openid-configuration': {
        issuer: 'https://id.example/',
        jwks_uri: 'https://id.example/keys',
      },
    });
    const d = await discoverJwksUri('https://id.example/', fetchJson);
    assert.equal(d.jwksUri, 'https://id.example/keys');
  });

  it('falls back to RFC 8414 when the OIDC document is not there', async () => {
    const { fetchJson, asked } = served({
      'https://as.example/.well-known/oauth-authorization-server/t1': {
        issuer: 'https://as.example/t1',
        jwks_uri: 'https://as.example/t1/jwks',
      },
    });
    const d = await discoverJwksUri('https://as.example/t1', fetchJson);
    assert.equal(d.jwksUri, 'https://as.example/t1/jwks');
    assert.equal(asked.length, 2);
  });

  for (const [configured, published] of [
    ['https://id.example/', 'https://id.example'],
    ['https://id.example', 'https://id.example/'],
    ['https://id.example/', 'https://evil.example/'],
  ] as const) {
    it(`refuses ${published} for ${configured}, naming both spellings`, async () => {
      const { fetchJson } = served({
        [discoveryUrls(configured)[0] as string]: { issuer: published, jwks_uri: 'https://x/keys' },
      });
      await assert.rejects(discoverJwksUri(configured, fetchJson), (e: unknown) => {
        assert.ok(e instanceof IssuerMismatchError);
        assert.ok(e.message.includes(`"${configured}"`) && e.message.includes(`"${published}"`));
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    });
  }

  it('refuses a document without an http(s) jwks_uri, and says when none exists', async () => {
    const { fetchJson } = served({
      'https://id.example/.well-known/openid-configuration': { issuer: 'https://id.example/' },
    });
    await assert.rejects(discoverJwksUri('https://id.example/', fetchJson), /jwks_uri/);
    await assert.rejects(
      discoverJwksUri('https://none.example/', served({}).fetchJson),
      /no discovery document/,
    );
  });
});
