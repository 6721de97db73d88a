/**
 * The route table: method + path template → Cedar action and resource kind. Data, not if-chains.
 * Matching is deliberately strict and works on the raw request target: any spelling that is not
 * exactly a known template (dot segments, encoded slashes, `//`, `;params`, upper case, a trailing
 * slash, NUL, a fragment) is simply not a route, so it is answered 404 and never forwarded.
 * What is forwarded is the canonical path built here, never the client's spelling.
 */
import { parseCursor, parseLimit } from '../common/list-query.js';
import { InvalidInputError } from '../errors.js';
import type { UsersAction } from '../policy/types.js';

export type ResourceKind = 'tenant' | 'user';
export type BodyKind = 'none' | 'new-user' | 'user-patch';

/** Checks one query value (400 when it is not one) and gives it back as it is forwarded. */
export type QueryRule = (raw: string) => string;

/** The list query: each value checked by the rules the backend and the stores apply too. */
const LIST_QUERY: Readonly<Record<string, QueryRule>> = {
  limit: (raw) => String(parseLimit(raw)),
  cursor: (raw) => parseCursor(raw) as string,
};

export interface RouteSpec {
  method: string;
  /** Path segments; `{id}` is the user id. */
  template: readonly string[];
  action: UsersAction;
  resource: ResourceKind;
  body: BodyKind;
  /** The query parameters this route accepts, each with its rule; any other is 400. */
  query: Readonly<Record<string, QueryRule>>;
  /**
   * Answered by the sidecar itself, never forwarded: `permissions` is what the caller may do
   * (permissions.ts). Such a route is admitted as `action` on its resource first, the way the
   * real request would be.
   */
  answer?: 'permissions';
}

export const ROUTES: readonly RouteSpec[] = [
  // Before `GET /v1/users/{id}`: "permissions" is a word of the API, never a user id.
  {
    method: 'GET',
    template: ['v1', 'users', 'permissions'],
    action: 'users:list',
    resource: 'tenant',
    body: 'none',
    query: {},
    answer: 'permissions',
  },
  {
    method: 'GET',
    template: ['v1', 'users', '{id}', 'permissions'],
    action: 'users:read',
    resource: 'user',
    body: 'none',
    query: {},
    answer: 'permissions',
  },
  {
    method: 'GET',
    template: ['v1', 'users'],
    action: 'users:list',
    resource: 'tenant',
    body: 'none',
    query: LIST_QUERY,
  },
  {
    method: 'POST',
    template: ['v1', 'users'],
    action: 'users:create',
    resource: 'tenant',
    body: 'new-user',
    query: {},
  },
  {
    method: 'GET',
    template: ['v1', 'users', '{id}'],
    action: 'users:read',
    resource: 'user',
    body: 'none',
    query: {},
  },
  {
    method: 'PUT',
    template: ['v1', 'users', '{id}'],
    action: 'users:update',
    resource: 'user',
    body: 'user-patch',
    query: {},
  },
  {
    method: 'DELETE',
    template: ['v1', 'users', '{id}'],
    action: 'users:delete',
    resource: 'user',
    body: 'none',
    query: {},
  },
];

export interface RouteMatch {
  route: RouteSpec;
  /** The raw `{id}` segment (validated later, 400 if it is not an id). */
  rawId: string | undefined;
  /** Raw query string without `?`, or ''. */
  rawQuery: string;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Matches a request target against the table, or returns undefined (404, or 405 when
 * {@link allowedMethods} knows the path). The `{id}` segment accepts only [A-Za-z0-9_-], so
 * `%2F`, `%2e`, `;`, `.` and the like never reach an id.
 */
export function matchRoute(
  method: string | undefined,
  target: string | undefined,
): RouteMatch | undefined {
  const parts = splitTarget(target);
  if (method === undefined || parts === undefined) return undefined;
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const id = matchTemplate(route.template, parts.segments);
    if (id !== false) return { route, rawId: id, rawQuery: parts.rawQuery };
  }
  return undefined;
}

/**
 * The methods the table has for exactly this path (the strict spelling matchRoute accepts), in
 * table order; [] for a path it does not know. A known path asked with another method is 405
 * with these in `Allow`, not 404.
 */
export function allowedMethods(target: string | undefined): string[] {
  const parts = splitTarget(target);
  if (parts === undefined) return [];
  return ROUTES.filter((r) => matchTemplate(r.template, parts.segments) !== false).map(
    (r) => r.method,
  );
}

/** The path's segments and the raw query, or undefined for a target that is no origin-form path. */
function splitTarget(
  target: string | undefined,
): { segments: string[]; rawQuery: string } | undefined {
  if (target === undefined || target[0] !== '/' || target.includes('#')) return undefined;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  return { segments: path.slice(1).split('/'), rawQuery: q === -1 ? '' : target.slice(q + 1) };
}

/** The raw `{id}` (undefined when the template has none) when the segments fit; false otherwise. */
function matchTemplate(
  template: readonly string[],
  segments: string[],
): string | undefined | false {
  if (template.length !== segments.length) return false;
  let rawId: string | undefined;
  for (let i = 0; i < segments.length; i++) {
    const want = template[i];
    const got = segments[i] as string;
    if (want === '{id}') {
      if (!SEGMENT.test(got)) return false;
      rawId = got;
    } else if (want !== got) return false;
  }
  return rawId;
}

/** The path the sidecar decides on and forwards: built from the template, never the raw target. */
export function canonicalPath(
  route: RouteSpec,
  id: string | undefined,
  query?: URLSearchParams,
): string {
  const path = '/' + route.template.map((s) => (s === '{id}' ? (id as string) : s)).join('/');
  const qs = query?.toString() ?? '';
  return qs === '' ? path : `${path}?${qs}`;
}

/**
 * The route's query, each parameter at most once and checked by the route's rule; undefined when
 * there is none. Unknown or repeated parameters are 400: the backend must never read a value
 * the sidecar did not decide on.
 */
export function readQuery(route: RouteSpec, rawQuery: string): URLSearchParams | undefined {
  if (rawQuery === '') return undefined;
  const params = new URLSearchParams(rawQuery);
  const out = new URLSearchParams();
  for (const name of new Set(params.keys())) {
    const rule = Object.hasOwn(route.query, name) ? route.query[name] : undefined;
    if (rule === undefined)
      throw new InvalidInputError(`unknown query parameter "${name}"`, {
        details: { parameter: name },
      });
    const values = params.getAll(name);
    if (values.length > 1)
      throw new InvalidInputError(`query parameter "${name}" given more than once`, {
        details: { parameter: name },
      });
    out.set(name, rule(values[0] as string));
  }
  return out;
}
