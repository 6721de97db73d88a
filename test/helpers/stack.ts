/**
 * A whole cedargate on free ports for end-to-end tests: the real `start` process (backend and
 * sidecar), with a recorder between the sidecar and the backend so tests can see exactly what
 * was forwarded. Tenants come from the real `tenant create` command; other users are created
 * through the API by the owner; tokens are signed with the stack's development key.
 */
import { request } from 'node:http';
import { issueDevToken } from '../../src/sidecar/authn/issue-token.js';
import type { User } from '../../src/common/user.js';
import { freePort, waitFor } from './net.js';
import { runCli, shippedPolicies, startCli, tempDir, type RunningProcess } from './process.js';
import { startHop, type Hop } from './hop.js';
import type { ReplyBody } from './contract.js';

export interface Reply {
  status: number;
  headers: Headers;
  /**
   * The parsed JSON answer. Typed as always present so tests read `r.body.code` plainly; it is
   * undefined when the answer is not JSON, and the assertion that reads it then fails.
   */
  body: ReplyBody;
  text: string;
}

export interface CallOptions {
  token?: string;
  tenant?: string;
  body?: unknown;
  /** Raw body text (sent as is) */
  rawBody?: string;
  headers?: Record<string, string>;
  /** On a connection of its own (no keep-alive socket from an earlier request is reused). */
  ownConnection?: boolean;
}

export interface Stack {
  url: string;
  adminUrl: string;
  dataDir: string;
  policyDir: string;
  process: RunningProcess;
  /** The hop between the sidecar and the backend, recording what reached the backend. */
  recorder: Hop;
  createTenant(name: string): Promise<{ tenantId: string; owner: User }>;
  token(tenantId: string, sub: string, ttlSeconds?: number, now?: () => number): Promise<string>;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  /** Creates a user through the API as `asOwner`. */
  createUser(tenantId: string, ownerToken: string, name: string, roles: string[]): Promise<User>;
  stop(): Promise<void>;
}

export interface StartStackOptions {
  env?: Record<string, string>;
  policyDir?: string;
}

export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  const data = tempDir();
  const [port, adminPort, backendPort] = [await freePort(), await freePort(), await freePort()];
  const recorder = await startHop({ target: () => `http://127.0.0.1:${backendPort}` });
  const policyDir = options.policyDir ?? shippedPolicies;
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    BACKEND_PORT: String(backendPort),
    UPSTREAM_URL: recorder.url,
    DATA_DIR: data.path,
    POLICY_DIR: policyDir,
    ...options.env,
  };
  const proc = startCli(['start'], env);
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    // Generous: a start beside CI's heaviest suites once took over 20 s with nothing wrong logged.
    await waitFor(
      async () => (await fetch(`${adminUrl}/healthz`)).ok,
      60_000,
      `cedargate start\n${proc.output()}`,
    );
  } catch (err) {
    await proc.stop('SIGKILL');
    await recorder.close();
    throw err;
  }

  const stack: Stack = {
    url,
    adminUrl,
    dataDir: data.path,
    policyDir,
    process: proc,
    recorder,
    createTenant: (name) => createTenantWithCli(env, name),
    token: (tenantId, sub, ttlSeconds, now) => devToken(data.path, tenantId, sub, ttlSeconds, now),
    call: (method, path, o = {}) => callPort(port, method, path, o),
    createUser: (tenantId, ownerToken, name, roles) =>
      createUserOnPort(port, tenantId, ownerToken, name, roles),
    async stop() {
      await proc.stop();
      await recorder.close();
      data.remove();
    },
  };
  return stack;
}

/** A tenant and its owner, made by the real `tenant create` command on the stack's DATA_DIR. */
export async function createTenantWithCli(
  env: Record<string, string>,
  name: string,
): Promise<{ tenantId: string; owner: User }> {
  const args = ['tenant', 'create', '--name', name, '--owner-name', `${name} owner`];
  const r = await runCli([...args, '--owner-email', `owner@${name}.test`], env);
  if (r.code !== 0) throw new Error(`tenant create failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { tenant: { id: string }; owner: User };
  return { tenantId: out.tenant.id, owner: out.owner };
}

/** A user created through the API on `port` (a sidecar) by `ownerToken`; throws unless 201. */
export async function createUserOnPort(
  port: number,
  tenantId: string,
  ownerToken: string,
  name: string,
  roles: string[],
): Promise<User> {
  const r = await callPort(port, 'POST', '/v1/users', {
    token: ownerToken,
    tenant: tenantId,
    body: {
      name,
      email: `${name.toLowerCase().replace(/\W/g, '')}@${tenantId.slice(0, 8).toLowerCase()}.test`,
      roles,
    },
  });
  if (r.status !== 201) throw new Error(`create user ${name}: ${r.status} ${r.text}`);
  return r.body;
}

/** A development token (the `start` defaults: issuer, audience, tenant claim) signed in `dataDir`. */
export function devToken(
  dataDir: string,
  tenantId: string,
  sub: string,
  ttlSeconds = 3600,
  now?: () => number,
): Promise<string> {
  return issueDevToken(dataDir, {
    tenant: tenantId,
    sub,
    ttlSeconds,
    issuer: 'cedargate-dev',
    audience: 'cedargate',
    tenantClaim: 'tenant_id',
    ...(now === undefined ? {} : { now }),
  });
}

/** One request to the sidecar (or backend) on `port`, its JSON answer parsed. */
export async function callPort(
  port: number,
  method: string,
  path: string,
  o: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.tenant !== undefined) headers['x-tenant-id'] = o.tenant;
  let body: string | undefined;
  if (o.rawBody !== undefined) body = o.rawBody;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  // node:http, not fetch: fetch would normalize `..` and `%2e` out of the path before sending.
  const res = await rawRequest(port, method, path, headers, body, o.ownConnection === true);
  const text = res.text;
  let parsed: ReplyBody | undefined = undefined;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as ReplyBody);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed as ReplyBody, text };
}

/** One HTTP request with the path sent exactly as given. */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  ownConnection = false,
): Promise<{ status: number; headers: Headers; text: string }> {
  const agent = ownConnection ? { agent: false as const } : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, ...agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: h,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
