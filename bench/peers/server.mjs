/**
 * One stack of `npm run bench -- --peers`, as its own process: `node server.mjs <mode>`.
 *
 *   bare     the users app on node:http, trusting the identity headers a sidecar would add
 *            (the trust secret, X-Tenant-ID); also cedargate's upstream in the cedargate stack;
 *   cedar    express + the official Cedar middleware (@cedar-policy/authorization-for-expressjs)
 *            deciding with cedargate's shipped schema and policies;
 *   cerbos   express + @cerbos/http asking a Cerbos PDP (CERBOS_URL) with the policies of
 *            bench/peers/cerbos/policies/.
 *
 * The cedar and cerbos apps authenticate the same bearer tokens as the sidecar (jose, ES256, the
 * development key set), each verified once and then remembered, as the sidecar's credential
 * cache does. Each also answers `GET /v1/users/{id}/permissions` as cedargate does (one decision
 * per entry; the bare app allows every entry). Env: PORT, SEED_FILE, TRUST_SECRET (bare),
 * JWKS_FILE, JWT_ISSUER, JWT_AUDIENCE, POLICY_DIR (cedar), CERBOS_URL (cerbos), ROLES (the
 * schema's roles, for the permissions answer).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createUsers, parsePatch, roleChangeOf, sendError, sendJson } from './users.mjs';

const mode = process.argv[2];
const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} must be set`);
  return v;
};
const users = createUsers(JSON.parse(readFileSync(env('SEED_FILE'), 'utf8')));
const USER_PATH = /^\/v1\/users\/([A-Za-z0-9_-]{1,64})$/;
const PERMISSIONS_PATH = /^\/v1\/users\/([A-Za-z0-9_-]{1,64})\/permissions$/;
/** The schema's roles (ROLES, comma-separated): a permissions answer asks about each. */
const ROLES = (process.env.ROLES ?? 'admin,user,viewer').split(',');

const server =
  mode === 'bare'
    ? createServer(bareHandler(env('TRUST_SECRET')))
    : mode === 'cedar'
      ? createServer(await cedarApp())
      : mode === 'cerbos'
        ? createServer(await cerbosApp())
        : undefined;
if (server === undefined) throw new Error(`unknown mode ${mode} (bare, cedar, cerbos)`);
server.keepAliveTimeout = 65_000;
server.listen(Number(env('PORT')), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));

/** The users app as cedargate's backend answers it: trust (401) → tenant (400) → route (404). */
function bareHandler(trustSecret) {
  return (req, res) => {
    if (req.url === '/healthz') return sendJsonOk(res);
    if (req.headers['x-cedargate-trust'] !== trustSecret)
      return sendError(res, 401, 'unauthenticated', 'missing or wrong trust header');
    const tenantId = req.headers['x-tenant-id'];
    if (typeof tenantId !== 'string') return sendError(res, 400, 'invalid_input', 'no tenant');
    // The permissions answer with nothing decided (every entry allowed): the baseline's cost.
    const p = PERMISSIONS_PATH.exec(req.url ?? '');
    if (p !== null && req.method === 'GET') {
      const target = users.find(tenantId, p[1]);
      if (target === undefined) return sendError(res, 404, 'not_found', 'no such user');
      const questions = permissionQuestions(target);
      return sendJson(
        res,
        200,
        permissionsAnswer(
          questions,
          questions.map(() => true),
        ),
      );
    }
    const m = USER_PATH.exec(req.url ?? '');
    if (m === null || (req.method !== 'GET' && req.method !== 'PUT'))
      return sendError(res, 404, 'not_found', 'no such route');
    const target = users.find(tenantId, m[1]);
    if (req.method === 'GET') {
      if (target === undefined) return sendError(res, 404, 'not_found', 'no such user');
      return users.sendUser(res, target);
    }
    readJson(req, (body) => {
      const patch = parsePatch(body);
      if (typeof patch === 'string') return sendError(res, 400, 'invalid_input', patch);
      if (target === undefined) return sendError(res, 404, 'not_found', 'no such user');
      users.update(res, target, patch, req.headers['if-match']);
    });
  };
}

function sendJsonOk(res) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"status":"ok"}');
}

function readJson(req, then) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    then(body);
  });
}

/** Bearer token → the caller's stored user, on req.principalUser; 401/403 as the sidecar answers. */
async function authenticate() {
  const { createLocalJWKSet, jwtVerify } = await import('jose');
  const jwks = createLocalJWKSet(JSON.parse(readFileSync(env('JWKS_FILE'), 'utf8')));
  const options = {
    issuer: env('JWT_ISSUER'),
    audience: env('JWT_AUDIENCE'),
    algorithms: ['ES256'],
  };
  const verified = new Map();
  return async (req, res, next) => {
    const auth = req.headers.authorization;
    if (typeof auth !== 'string' || !auth.startsWith('Bearer '))
      return sendError(res, 401, 'unauthenticated', 'a bearer token is required');
    const token = auth.slice(7);
    let claims = verified.get(token);
    if (claims === undefined) {
      try {
        claims = (await jwtVerify(token, jwks, options)).payload;
      } catch {
        return sendError(res, 401, 'unauthenticated', 'invalid token');
      }
      verified.set(token, claims);
    }
    if (claims.tenant_id !== req.headers['x-tenant-id'])
      return sendError(res, 403, 'tenant_mismatch', 'the token is for another tenant');
    const principal = users.find(claims.tenant_id, claims.sub);
    if (principal === undefined) return sendError(res, 401, 'unauthenticated', 'unknown user');
    req.principalUser = principal;
    next();
  };
}

/**
 * The express routes both peer apps share; `authorize(action)` is each peer's own check, and
 * `decideAll(principal, target, questions)` its answers to many questions at once (booleans, in
 * order), for the permissions route.
 */
async function expressApp(authorize, decideAll) {
  const { default: express } = await import('express');
  const app = express();
  app.disable('etag');
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => sendJsonOk(res));
  app.use(await authenticate());
  app.use(express.json());
  const loadTarget = (req, res, next) => {
    const target = users.find(req.principalUser.tenant_id, req.params.id);
    if (target === undefined) return sendError(res, 404, 'not_found', 'no such user');
    req.target = target;
    if (req.method === 'PUT') {
      const patch = parsePatch(req.body);
      if (typeof patch === 'string') return sendError(res, 400, 'invalid_input', patch);
      req.patch = patch;
      req.change = roleChangeOf(target, patch);
    }
    next();
  };
  app.get('/v1/users/:id', loadTarget, authorize('users:read'), (req, res) =>
    users.sendUser(res, req.target),
  );
  // What the caller may do to the user, gated by reading it, as cedargate answers it.
  app.get('/v1/users/:id/permissions', loadTarget, authorize('users:read'), async (req, res) => {
    const questions = permissionQuestions(req.target);
    try {
      const allowed = await decideAll(req.principalUser, req.target, questions);
      sendJson(res, 200, permissionsAnswer(questions, allowed));
    } catch (err) {
      process.stderr.write(`permissions: ${err}\n`);
      sendError(res, 502, 'upstream_unavailable', 'the decision failed');
    }
  });
  app.put('/v1/users/:id', loadTarget, authorize('users:update'), (req, res) =>
    users.update(res, req.target, req.patch, req.get('if-match')),
  );
  app.use((_req, res) => sendError(res, 404, 'not_found', 'no such route'));
  return app;
}

/**
 * The questions of a permissions answer about `target`: cedargate's entries (src/sidecar/
 * permissions.ts) but `delete` and `change_avatar`, routes this app does not serve. Each is a
 * concrete update's role change, as the request path would see it.
 */
function permissionQuestions(target) {
  const questions = [
    { path: ['actions', 'read'], action: 'users:read', change: undefined },
    {
      path: ['actions', 'rename'],
      action: 'users:update',
      change: roleChangeOf(target, { name: `${target.name} (renamed)` }),
    },
  ];
  for (const role of ROLES) {
    const held = target.roles.includes(role);
    const roles = held ? target.roles.filter((r) => r !== role) : [...target.roles, role];
    questions.push({
      path: ['roles', held ? 'remove' : 'add', role],
      action: 'users:update',
      change: roleChangeOf(target, { roles }),
    });
  }
  return questions;
}

/** `{ actions: { read: { allowed } … }, roles: { add: { X: { allowed } }, remove: … } }`. */
function permissionsAnswer(questions, allowed) {
  const answer = { actions: {}, roles: { add: {}, remove: {} } };
  questions.forEach((q, i) => {
    let node = answer;
    for (const key of q.path.slice(0, -1)) node = node[key];
    node[q.path[q.path.length - 1]] = { allowed: allowed[i] === true };
  });
  return answer;
}

/**
 * The Cedar middleware, configured as its README shows (inline engine, custom principal), with
 * handler-specific middleware per route so that the resource is the target user and the context
 * the role change: the same request cedargate sends Cedar. The middleware derives its route
 * table from `httpVerb` / `httpPathTemplate` annotations on the schema's actions, added here to
 * cedargate's schema (converted to JSON). It answers a deny with its own 401.
 */
async function cedarApp() {
  const { ExpressAuthorizationMiddleware, CedarInlineAuthorizationEngine } =
    await import('@cedar-policy/authorization-for-expressjs');
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const policyDir = env('POLICY_DIR');
  const converted = cedar.schemaToJson(readFileSync(join(policyDir, 'schema.cedarschema'), 'utf8'));
  if (converted.type !== 'success') throw new Error(JSON.stringify(converted.errors));
  const schema = converted.json;
  const routes = {
    'users:list': ['get', '/v1/users'],
    'users:read': ['get', '/v1/users/{id}'],
    'users:create': ['post', '/v1/users'],
    'users:update': ['put', '/v1/users/{id}'],
    'users:delete': ['delete', '/v1/users/{id}'],
  };
  const ns = schema.Cedargate;
  ns.annotations = { ...ns.annotations, mappingType: 'SimpleRest' };
  for (const [action, [httpVerb, httpPathTemplate]] of Object.entries(routes)) {
    const a = ns.actions[action];
    a.annotations = { ...a.annotations, httpVerb, httpPathTemplate };
  }
  const stringified = { type: 'jsonString', schema: JSON.stringify(schema) };
  const policies = readdirSync(policyDir)
    .filter((f) => f.endsWith('.cedar'))
    .sort()
    .map((f) => readFileSync(join(policyDir, f), 'utf8'))
    .join('\n');
  const engine = new CedarInlineAuthorizationEngine({
    staticPolicies: policies,
    schema: stringified,
  });
  const ref = (type, id) => ({ __entity: { type: `Cedargate::${type}`, id } });
  const entityOf = (u) => ({
    uid: { type: 'Cedargate::User', id: u.id },
    attrs: {
      tenant: ref('Tenant', u.tenant_id),
      roles: u.roles.map((r) => ref('Role', r)),
      isOwner: u.is_owner,
    },
    parents: [{ type: 'Cedargate::Tenant', id: u.tenant_id }],
  });
  const roleRefs = (list) => list.map((r) => ref('Role', r));
  const contextOf = (c) =>
    c === undefined
      ? {}
      : {
          rolesRequested: roleRefs(c.rolesRequested),
          rolesAdded: roleRefs(c.rolesAdded),
          rolesRemoved: roleRefs(c.rolesRemoved),
          nameChanges: c.nameChanges,
          avatarChanges: false,
        };
  const middleware = new ExpressAuthorizationMiddleware({
    schema: stringified,
    authorizationEngine: engine,
    principalConfiguration: {
      type: 'custom',
      getPrincipalEntity: async (req) => entityOf(req.principalUser),
    },
    contextConfiguration: {
      type: 'custom',
      getContext: (req) => contextOf(req.change),
    },
    logger: { log: (s) => process.stderr.write(`${s}\n`) },
  });
  // Many questions: the engine the middleware decides with, asked once per question.
  const decideAll = async (p, t, questions) => {
    const entities = [entityOf(p), ...(p.id === t.id ? [] : [entityOf(t)])];
    const out = [];
    for (const q of questions) {
      const answer = await engine.isAuthorized(
        {
          principal: entityOf(p).uid,
          action: { type: 'Cedargate::Action', id: q.action },
          resource: entityOf(t).uid,
          context: contextOf(q.change),
        },
        entities,
      );
      if (answer.type === 'error') throw new Error(answer.message);
      out.push(answer.type === 'allow');
    }
    return out;
  };
  return expressApp(
    (action) =>
      middleware.handlerSpecificMiddleware({
        actionProvider: () => ({ type: 'Cedargate::Action', id: action }),
        resourceProvider: async (req) => entityOf(req.target),
        entitiesProvider: async () => [],
      }),
    decideAll,
  );
}

/** express asking the Cerbos PDP over HTTP; the role change travels as resource attributes. */
async function cerbosApp() {
  const { HTTP } = await import('@cerbos/http');
  const cerbos = new HTTP(env('CERBOS_URL'));
  const verbs = { 'users:read': 'read', 'users:update': 'update' };
  const principalOf = (p) => ({
    id: p.id,
    roles: p.roles.length === 0 ? ['none'] : p.roles,
    attr: { tenant: p.tenant_id, isOwner: p.is_owner },
  });
  const resourceOf = (t, change) => ({
    kind: 'user',
    id: t.id,
    attr: {
      tenant: t.tenant_id,
      isOwner: t.is_owner,
      roles: t.roles,
      rolesAdded: change?.rolesAdded ?? [],
      rolesRemoved: change?.rolesRemoved ?? [],
    },
  });
  // Many questions: one checkResources call, one resource entry per question (results in order).
  const decideAll = async (p, t, questions) => {
    const response = await cerbos.checkResources({
      principal: principalOf(p),
      resources: questions.map((q) => ({
        resource: resourceOf(t, q.change),
        actions: [verbs[q.action]],
      })),
    });
    return questions.map((q, i) => response.results[i]?.isAllowed(verbs[q.action]) === true);
  };
  const authorize = (action) => async (req, res, next) => {
    const verb = verbs[action];
    try {
      const decision = await cerbos.checkResource({
        principal: principalOf(req.principalUser),
        resource: resourceOf(req.target, req.change),
        actions: [verb],
      });
      if (decision.isAllowed(verb) !== true)
        return sendError(res, 403, 'forbidden', 'denied by policy');
      next();
    } catch (err) {
      process.stderr.write(`cerbos: ${err}\n`);
      sendError(res, 502, 'upstream_unavailable', 'the PDP did not answer');
    }
  };
  return expressApp(authorize, decideAll);
}
