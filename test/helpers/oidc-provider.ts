/**
 * A real, certified OpenID provider (`oidc-provider` by panva) on a free port, issuing RFC 9068
 * JWT access tokens for resource indicators, for the identity e2e tests. Clients use
 * client_credentials (the client id is the user id the token names) or an authorization-code
 * login scripted end to end (the `login_hint` is the account that logs in). Its keys can be
 * rotated and withdrawn by restarting it on the same port with another key list.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import { freePort } from './net.js';

/** Resource indicators, one per signing algorithm; every one has the audience `users-api`. */
export const RESOURCES = {
  RS256: 'urn:users-api:rs256',
  ES256: 'urn:users-api:es256',
  EdDSA: 'urn:users-api:eddsa',
} as const;
export type SigningAlg = keyof typeof RESOURCES;
export const RESOURCE_AUDIENCE = 'users-api';
export const WEB_CLIENT = 'web-app';
const WEB_SECRET = 'web-app-secret-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const CLIENT_SECRET = 'client-secret-0123456789';

/** A private signing key as the provider takes it. */
export interface ProviderKey {
  jwk: JWK;
  kid: string;
}

/** Generates a private key of `alg` with a fresh kid. */
export async function providerKey(alg: SigningAlg): Promise<ProviderKey> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' && { crv: 'Ed25519' }),
  });
  const kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`;
  return { jwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' }, kid };
}

export interface ProviderOptions {
  /** The client ids allowed client_credentials (each a user id of some tenant). */
  serviceClients: string[];
  /** Extra claims of every token (access and ID) naming `subject` (a client or an account). */
  claimsOf: (subject: string) => Record<string, unknown>;
  /** Keys, first of each algorithm signs. */
  keys: ProviderKey[];
}

export interface RunningProvider {
  issuer: string;
  port: number;
  /** client_credentials for `resource`; the access token (typ at+jwt). */
  clientCredentials(clientId: string, alg: SigningAlg): Promise<string>;
  /** An authorization-code login of `account` end to end; the access and ID tokens. */
  login(account: string, alg: SigningAlg): Promise<{ accessToken: string; idToken: string }>;
  /** Restarts on the same port with `keys` (rotation, withdrawal). */
  restart(keys: ProviderKey[]): Promise<void>;
  close(): Promise<void>;
}

/** Starts a provider on a free port (or `port`). */
export async function startProvider(
  options: ProviderOptions,
  port?: number,
): Promise<RunningProvider> {
  const p = port ?? (await freePort());
  const issuer = `http://127.0.0.1:${p}`;
  let server = await listen(issuer, p, options, options.keys);
  return {
    issuer,
    port: p,
    clientCredentials: (clientId, alg) => clientCredentials(issuer, clientId, alg),
    login: (account, alg) => scriptedLogin(issuer, account, alg),
    async restart(keys) {
      await closeServer(server);
      server = await listen(issuer, p, options, keys);
    },
    close: () => closeServer(server),
  };
}

function configuration(options: ProviderOptions, keys: ProviderKey[]): Configuration {
  const algOf = new Map<string, SigningAlg>(
    Object.entries(RESOURCES).map(([alg, r]) => [r, alg as SigningAlg]),
  );
  return {
    clients: [
      ...options.serviceClients.map((id) => ({
        client_id: id,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      })),
      {
        client_id: WEB_CLIENT,
        client_secret: WEB_SECRET,
        grant_types: ['authorization_code'],
        redirect_uris: [REDIRECT_URI],
        response_types: ['code'],
      },
    ],
    jwks: { keys: keys.map((k) => k.jwk) },
    cookies: { keys: ['cookie-key-for-tests-only'] },
    conformIdTokenClaims: false,
    ttl: {
      AccessToken: 600,
      ClientCredentials: 600,
      IdToken: 600,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
    claims: { openid: ['sub', 'org'], profile: ['name'] },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, ...options.claimsOf(id) }),
    }),
    extraTokenClaims: (_ctx: unknown, token: { accountId?: string; clientId?: string }) =>
      options.claimsOf(token.accountId ?? token.clientId ?? ''),
    interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCES.RS256,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          const alg = algOf.get(indicator);
          if (alg === undefined) throw new Error(`unknown resource ${indicator}`);
          return {
            scope: 'api',
            audience: RESOURCE_AUDIENCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
  };
}

async function listen(
  issuer: string,
  port: number,
  options: ProviderOptions,
  keys: ProviderKey[],
): Promise<Server> {
  const provider = new Provider(issuer, configuration(options, keys));
  const callback = provider.callback();
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/interaction/') === true) {
      finishInteraction(provider, req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
      return;
    }
    void callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** The login and consent pages of a scripted user: logs in the `login_hint`, grants what is asked. */
async function finishInteraction(
  provider: Provider,
  req: Parameters<Provider['interactionDetails']>[0],
  res: Parameters<Provider['interactionDetails']>[1],
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const accountId = String(details.params.login_hint);
    await provider.interactionFinished(req, res, { login: { accountId } });
    return;
  }
  const accountId = details.session?.accountId ?? '';
  const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope !== undefined)
    grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId } },
    {
      mergeWithLastSubmission: true,
    },
  );
}

/**
 * fetch, once more when a pooled connection turns out closed (the provider was just restarted
 * on its port: the client's idle socket to the old server is dead).
 */
async function fetchAgain(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

async function clientCredentials(
  issuer: string,
  clientId: string,
  alg: SigningAlg,
): Promise<string> {
  const res = await fetchAgain(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: basic(clientId, CLIENT_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      resource: RESOURCES[alg],
      scope: 'api',
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || body.access_token === undefined) {
    throw new Error(`client_credentials: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

/** A browser's authorization-code login, step by step, cookies kept, redirects followed by hand. */
async function scriptedLogin(
  issuer: string,
  account: string,
  alg: SigningAlg,
): Promise<{ accessToken: string; idToken: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const cookies = new Map<string, string>();
  let url = `${issuer}/auth?${new URLSearchParams({
    client_id: WEB_CLIENT,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid api',
    resource: RESOURCES[alg],
    login_hint: account,
    state: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()}`;
  for (let hop = 0; hop < 12 && !url.startsWith(REDIRECT_URI); hop++) {
    const res = await fetchAgain(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (location === null)
      throw new Error(`login stopped at ${url}: ${res.status} ${await res.text()}`);
    url = new URL(location, url).toString();
  }
  const code = new URL(url).searchParams.get('code');
  if (code === null) throw new Error(`login ended without a code: ${url}`);
  const res = await fetchAgain(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: basic(WEB_CLIENT, WEB_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: RESOURCES[alg],
    }),
  });
  const body = (await res.json()) as { access_token?: string; id_token?: string };
  if (res.status !== 200 || body.access_token === undefined || body.id_token === undefined) {
    throw new Error(`authorization_code: ${res.status} ${JSON.stringify(body)}`);
  }
  return { accessToken: body.access_token, idToken: body.id_token };
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
