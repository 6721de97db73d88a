/**
 * Issuer → its key set's URL, as the issuer itself publishes it: OpenID Connect Discovery
 * (`<issuer>/.well-known/openid-configuration`), falling back to RFC 8414's
 * `/.well-known/oauth-authorization-server`. The document's `issuer` must equal the configured
 * issuer character for character (OIDC Discovery §4.3, RFC 8414 §3.3): a document for another
 * issuer, or for the same one spelled with or without a trailing slash, is refused, because the
 * tokens' `iss` would not match it either.
 */

/** The discovery document names another issuer than the one configured. */
export class IssuerMismatchError extends Error {
  constructor(
    readonly configured: string,
    readonly published: string,
    readonly documentUrl: string,
  ) {
    super(
      `the discovery document ${documentUrl} names the issuer "${published}", configured is "${configured}": they must be equal character for character (a trailing slash included)`,
    );
    this.name = 'IssuerMismatchError';
  }
}

/** What discovery found. */
export interface Discovered {
  documentUrl: string;
  jwksUri: string;
}

/** The URLs to try, in order: OpenID Connect Discovery, then RFC 8414. */
export function discoveryUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/$/, '');
  return [
    // OIDC Discovery §4: the issuer with any trailing slash removed, then the well-known path.
    `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    // RFC 8414 §3: the well-known path goes between the host and the issuer's path.
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/**
 * Reads the issuer's discovery document and returns its `jwks_uri`. Throws
 * IssuerMismatchError for a document of another issuer, an Error for anything else (down, slow,
 * not found, not a document).
 */
export async function discoverJwksUri(
  issuer: string,
  fetchJson: (url: string) => Promise<{ status: number; body: unknown }>,
): Promise<Discovered> {
  const problems: string[] = [];
  for (const documentUrl of discoveryUrls(issuer)) {
    const { status, body } = await fetchJson(documentUrl);
    if (status !== 200) {
      problems.push(`${documentUrl} answered ${status}`);
      continue;
    }
    const doc = body as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (typeof doc !== 'object' || doc === null || typeof doc.issuer !== 'string') {
      throw new Error(`${documentUrl} is not a discovery document (no "issuer")`);
    }
    if (doc.issuer !== issuer) throw new IssuerMismatchError(issuer, doc.issuer, documentUrl);
    if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) {
      throw new Error(`${documentUrl} has no http(s) "jwks_uri"`);
    }
    return { documentUrl, jwksUri: doc.jwks_uri };
  }
  throw new Error(`no discovery document: ${problems.join('; ')}`);
}
