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
 * Matches a request target against the table, or returns undefined (404). The `{id}` segment
 * accepts only [A-Za-z0-9_-], so `%2F`, `%2e`, `;`, `.` and the like never reach an id.
 */
export function matchRoute(
  method: string | undefined,
  target: string | undefined,
): RouteMatch | undefined {
  if (method === undefined || target === undefined || target[0] !== '/') return undefined;
  if (target.includes('#')) return undefined;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  const segments = path.slice(1).split('/');
  for (const route of ROUTES) {
    if (route.method !== method || route.template.length !== segments.length) continue;
    let rawId: string | undefined;
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const want = route.template[i];
      const got = segments[i] as string;
      if (want === '{id}') {
        if (!SEGMENT.test(got)) {
          ok = false;
          break;
        }
        rawId = got;
      } else if (want !== got) {
        ok = false;
        break;
      }
    }
    if (ok) return { route, rawId, rawQuery };
  }
  return undefined;
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
