/**
 * A users backend that is not ours, in memory, for `backend-check` and the backend contract:
 * correct by default (with ETags of its own form, not ours), or broken on purpose in one way
 * (`flaw`) so that a test can see the check name the rule it breaks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type BackendFlaw =
  | 'none'
  | 'weak-etag'
  | 'unquoted-etag'
  | 'ignores-if-match'
  | 'roles-as-string'
  | 'no-trust-check'
  | 'no-tenant-scope';

export interface FakeBackend {
  url: string;
  tenantId: string;
  ownerId: string;
  trustSecret: string;
  close(): Promise<void>;
}

interface FakeUser {
  id: string;
  tenant_id: string;
  name: string;
  email: string;
  roles: string[];
  is_owner: boolean;
  avatar: null;
  tag: string;
}

export async function startFakeBackend(flaw: BackendFlaw = 'none'): Promise<FakeBackend> {
  const tenantId = randomUUID().toUpperCase();
  const ownerId = randomUUID().toUpperCase();
  const trustSecret = randomBytes(16).toString('hex');
  const users = new Map<string, FakeUser>();
  const newTag = () => randomBytes(6).toString('base64url');
  users.set(ownerId, {
    id: ownerId,
    tenant_id: tenantId,
    name: 'Owner',
    email: 'owner@fake.test',
    roles: ['admin'],
    is_owner: true,
    avatar: null,
    tag: newTag(),
  });

  const etagOf = (u: FakeUser) =>
    flaw === 'weak-etag' ? `W/"${u.tag}"` : flaw === 'unquoted-etag' ? u.tag : `"${u.tag}"`;
  const view = (u: FakeUser) => {
    const { tag: _tag, ...rest } = u;
    return flaw === 'roles-as-string' ? { ...rest, roles: u.roles.join(',') } : rest;
  };
  const send = (res: ServerResponse, status: number, body?: unknown, etag?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (etag !== undefined) headers['etag'] = etag;
    res.writeHead(status, headers);
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: string) =>
    send(res, status, { code, message: code });
  const preconditionHolds = (req: IncomingMessage, u: FakeUser) =>
    flaw === 'ignores-if-match' ||
    req.headers['if-match'] === undefined ||
    req.headers['if-match'] === etagOf(u);

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
      if (flaw !== 'no-trust-check' && req.headers['x-cedargate-trust'] !== trustSecret) {
        return error(res, 401, 'unauthenticated');
      }
      const tenant = String(req.headers['x-tenant-id'] ?? '').toUpperCase();
      const inTenant = (u: FakeUser | undefined) =>
        u !== undefined && (flaw === 'no-tenant-scope' || u.tenant_id === tenant) ? u : undefined;
      if (url.pathname === '/v1/users') {
        if (req.method === 'GET') {
          const page = [...users.values()].filter((u) => inTenant(u) !== undefined).map(view);
          return send(res, 200, { users: page, next_cursor: null });
        }
        if (req.method === 'POST') {
          const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FakeUser;
          const u: FakeUser = {
            id: randomUUID().toUpperCase(),
            tenant_id: tenant,
            name: input.name,
            email: input.email,
            roles: input.roles,
            is_owner: false,
            avatar: null,
            tag: newTag(),
          };
          users.set(u.id, u);
          return send(res, 201, view(u), etagOf(u));
        }
      }
      const m = /^\/v1\/users\/([^/]+)$/.exec(url.pathname);
      const u = m === null ? undefined : inTenant(users.get(decodeURIComponent(m[1] ?? '')));
      if (m === null) return error(res, 404, 'not_found');
      if (u === undefined) return error(res, 404, 'not_found');
      if (req.method === 'GET') return send(res, 200, view(u), etagOf(u));
      if (!preconditionHolds(req, u)) return error(res, 412, 'precondition_failed');
      if (req.method === 'PUT') {
        const patch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<FakeUser>;
        if (patch.name !== undefined) u.name = patch.name;
        if (patch.roles !== undefined) u.roles = patch.roles;
        u.tag = newTag();
        return send(res, 200, view(u), etagOf(u));
      }
      if (req.method === 'DELETE') {
        users.delete(u.id);
        res.writeHead(204).end();
        return;
      }
      error(res, 404, 'not_found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tenantId,
    ownerId,
    trustSecret,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
