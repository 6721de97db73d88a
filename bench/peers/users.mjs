/**
 * The in-memory users app every stack of `npm run bench -- --peers` serves: the users of one
 * seeded tenant, the two routes the peer scenarios use (GET and PUT /v1/users/{id}), answered in
 * the contract's shapes (the user JSON, a strong ETag per version, If-Match → 412, errors as
 * {code,message}). Kept apart from how a request is authenticated and authorized, so the bare
 * app, the Cedar middleware app, the Cerbos app and cedargate's upstream run the same code.
 */

/** The seed file (written by bench/peers.ts): { tenantId, users: User[] }. */
export function createUsers(seed) {
  const byId = new Map();
  for (const u of seed.users) byId.set(u.id, { ...u, version: 1 });
  const etagOf = (u) => `"${u.id.toLowerCase()}.${u.version}"`;
  const publicOf = ({ version: _version, ...rest }) => rest;
  return {
    tenantId: seed.tenantId,
    /** The stored user of the tenant, or undefined. */
    find(tenantId, id) {
      const u = byId.get(id);
      return u !== undefined && u.tenant_id === tenantId ? u : undefined;
    },
    /** Answers GET /v1/users/{id} for a caller already let through. */
    sendUser(res, u) {
      sendJson(res, 200, publicOf(u), { etag: etagOf(u) });
    },
    /** Applies a validated patch under the request's If-Match, answering 200 or 412. */
    update(res, u, patch, ifMatch) {
      if (ifMatch !== undefined && ifMatch !== '*' && !splitTags(ifMatch).includes(etagOf(u))) {
        sendError(res, 412, 'precondition_failed', 'the user changed since it was read');
        return;
      }
      if (patch.name !== undefined) u.name = patch.name;
      if (patch.roles !== undefined) u.roles = [...new Set(patch.roles)].sort();
      u.version += 1;
      u.updated_at = new Date().toISOString();
      sendJson(res, 200, publicOf(u), { etag: etagOf(u) });
    },
  };
}

const ROLE = /^[a-z][a-z0-9_-]{0,63}$/;

/** A PUT body as { name?, roles? }, or a string saying what is wrong with it. */
export function parsePatch(body) {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'not an object';
  const { name, roles, ...rest } = body;
  if (Object.keys(rest).length > 0) return `unknown field ${Object.keys(rest)[0]}`;
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) return 'bad name';
  if (
    roles !== undefined &&
    (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && ROLE.test(r)))
  )
    return 'bad roles';
  if (name === undefined && roles === undefined) return 'empty patch';
  return { ...(name === undefined ? {} : { name }), ...(roles === undefined ? {} : { roles }) };
}

/** What a role change asks, as cedargate's update context has it. */
export function roleChangeOf(current, patch) {
  const requested = patch.roles ?? current.roles;
  return {
    rolesRequested: [...new Set(requested)],
    rolesAdded: requested.filter((r) => !current.roles.includes(r)),
    rolesRemoved: current.roles.filter((r) => !requested.includes(r)),
    nameChanges: patch.name !== undefined && patch.name !== current.name,
  };
}

function splitTags(header) {
  return header.split(',').map((t) => t.trim());
}

export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res, status, code, message) {
  sendJson(res, status, { code, message });
}
