/**
 * Where in a token's claims a value lives (TENANT_CLAIM, USER_CLAIM, an issuer's `tenant_claim`
 * and `user_claim`): either a top-level claim name, taken as it is (URLs included:
 * `https://example.com/tenant_id`), or an RFC 6901 JSON Pointer starting with `/` (`/org/id`,
 * `/https:~1~1example.com~1claims/tenant`).
 *
 * Reading walks own members of plain objects only: a pointer that reaches an array, a string or
 * a number on its way, or names a member the object does not itself hold (`__proto__`,
 * `constructor`), finds nothing. A claim path never indexes an array: which element names a
 * tenant would depend on the issuer's ordering.
 */

/** A parsed claim path. */
export interface ClaimPath {
  /** As configured, for logs and /status. */
  readonly spec: string;
  /** The member names to walk, unescaped; one for a top-level claim name. */
  readonly members: readonly string[];
}

/** The longest claim path accepted; claim names are short. */
const MAX_SPEC_LENGTH = 256;
const MAX_DEPTH = 16;

/** Parses `spec`, or throws an Error saying what is wrong with it (shown at start). */
export function parseClaimPath(spec: string): ClaimPath {
  if (spec === '') throw new Error('is empty');
  if (spec.length > MAX_SPEC_LENGTH) throw new Error(`is over ${MAX_SPEC_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(spec)) throw new Error('holds control characters');
  if (!spec.startsWith('/')) {
    if (/\s/.test(spec)) throw new Error(`"${spec}" holds whitespace; a claim name has none`);
    return Object.freeze({ spec, members: Object.freeze([spec]) });
  }
  const raw = spec.slice(1).split('/');
  if (raw.length > MAX_DEPTH) throw new Error(`is deeper than ${MAX_DEPTH} members`);
  const members = raw.map((token) => {
    // RFC 6901 §3: `~` is only ever `~0` (a `~`) or `~1` (a `/`).
    if (/~(?![01])/.test(token)) {
      throw new Error(`"${spec}": "~" must be followed by 0 or 1 (RFC 6901: ~0 is ~, ~1 is /)`);
    }
    if (token === '') throw new Error(`"${spec}" names an empty member`);
    // §4: ~1 first, then ~0, so that `~01` is the member `~1`, not `/`.
    return token.replaceAll('~1', '/').replaceAll('~0', '~');
  });
  return Object.freeze({ spec, members: Object.freeze(members) });
}

/** The value at `path` in `claims`, or undefined when the path does not lead to one. */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  let here: unknown = claims;
  for (const member of path.members) {
    if (!isPlainObject(here) || !Object.hasOwn(here, member)) return undefined;
    here = here[member];
  }
  return here;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `claims` with `value` set at `path`, creating the objects on the way (for development tokens
 * whose TENANT_CLAIM is a pointer). Throws when the path crosses a value that is not an object.
 */
export function setClaim(
  claims: Record<string, unknown>,
  path: ClaimPath,
  value: unknown,
): Record<string, unknown> {
  let here: Record<string, unknown> = claims;
  const last = path.members.length - 1;
  path.members.forEach((member, i) => {
    if (i === last) {
      // defineProperty, not assignment: a member named `__proto__` stays a member.
      Object.defineProperty(here, member, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return;
    }
    const next = Object.hasOwn(here, member) ? here[member] : undefined;
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      Object.defineProperty(here, member, {
        value: created,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      here = created;
    } else if (isPlainObject(next)) {
      here = next;
    } else {
      throw new Error(`claim path ${path.spec}: "${member}" is not an object`);
    }
  });
  return claims;
}
