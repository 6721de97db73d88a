/**
 * Random schemas and policy sets for the compiled decider's differential test: the shipped
 * schema's shape with 1–20 roles, sometimes an optional `nick` on `User` and an action group;
 * policies drawn from a grammar of the constructs the compiled decider supports (scopes with
 * `==`, `in`, `is`, `is … in`, action lists and groups; `==`/`!=`, `in`, `is`, `&&`/`||`/`!`,
 * `if`, `has`, attribute access, set operations, Long comparison and arithmetic near i64's
 * edges, entity literals that may not exist). Policies the strict validator refuses are left
 * out by the caller.
 */
import fc from 'fast-check';

/** One random schema's parameters. */
export interface SchemaParams {
  roles: string[];
  nick: boolean;
  group: boolean;
}

export const schemaParamsArb: fc.Arbitrary<SchemaParams> = fc.record({
  roles: fc
    .integer({ min: 1, max: 20 })
    .map((n) => Array.from({ length: n }, (_, i) => (i === 0 ? 'admin' : `r${i}`))),
  nick: fc.boolean(),
  group: fc.boolean(),
});

/** The schema text of `p`. */
export function schemaText(p: SchemaParams): string {
  const roles = p.roles.map((r) => JSON.stringify(r)).join(', ');
  const inGroup = p.group ? ' in ["writes"]' : '';
  return `namespace Cedargate {
  entity Role enum [${roles}];
  entity Tenant;
  entity User in [Tenant] { tenant: Tenant, roles: Set<Role>, isOwner: Bool${p.nick ? ', nick?: String' : ''} };
  ${p.group ? 'action "writes";' : ''}
  action "users:list" appliesTo { principal: User, resource: Tenant, context: {} };
  action "users:read" appliesTo { principal: User, resource: User, context: {} };
  action "users:create" appliesTo { principal: User, resource: Tenant, context: { rolesRequested: Set<Role> } };
  action "users:update"${inGroup} appliesTo { principal: User, resource: User, context: {
    rolesRequested: Set<Role>, rolesAdded: Set<Role>, rolesRemoved: Set<Role>,
    nameChanges: Bool, avatarChanges: Bool } };
  action "users:delete"${inGroup} appliesTo { principal: User, resource: User, context: {} };
}
`;
}

const A = (id: string) => `Cedargate::Action::"${id}"`;
const U = (id: string) => `Cedargate::User::"${id}"`;
const T = (id: string) => `Cedargate::Tenant::"${id}"`;

/** What a policy's conditions may read, given its action scope. */
interface Scope {
  action: string;
  resource: 'User' | 'Tenant' | 'Any';
  sets: string[];
  bools: string[];
}

const UPDATE_SETS = ['rolesRequested', 'rolesAdded', 'rolesRemoved'];
const UPDATE_BOOLS = ['nameChanges', 'avatarChanges'];

function scopesOf(p: SchemaParams): Scope[] {
  const out: Scope[] = [
    { action: `action == ${A('users:list')}`, resource: 'Tenant', sets: [], bools: [] },
    { action: `action == ${A('users:read')}`, resource: 'User', sets: [], bools: [] },
    {
      action: `action == ${A('users:create')}`,
      resource: 'Tenant',
      sets: ['rolesRequested'],
      bools: [],
    },
    {
      action: `action == ${A('users:update')}`,
      resource: 'User',
      sets: UPDATE_SETS,
      bools: UPDATE_BOOLS,
    },
    { action: `action == ${A('users:delete')}`, resource: 'User', sets: [], bools: [] },
    {
      action: `action in [${A('users:update')}, ${A('users:delete')}]`,
      resource: 'User',
      sets: [],
      bools: [],
    },
    {
      action: `action in [${A('users:list')}, ${A('users:create')}]`,
      resource: 'Tenant',
      sets: [],
      bools: [],
    },
    { action: 'action', resource: 'User', sets: [], bools: [] },
    { action: 'action', resource: 'Tenant', sets: [], bools: [] },
    { action: 'action', resource: 'Any', sets: [], bools: [] },
  ];
  if (p.group)
    out.push({ action: `action in ${A('writes')}`, resource: 'User', sets: [], bools: [] });
  return out;
}

const USERS = ['u1', 'u2', 'u"q'];
const TENANTS = ['t1', 't2'];
const LONGS = ['0', '1', '7', '3037000499', '3037000500', '9007199254740991', '-9007199254740991'];

function leaves(p: SchemaParams, s: Scope): fc.Arbitrary<string> {
  const role = fc.constantFrom(...p.roles).map((r) => `Cedargate::Role::${JSON.stringify(r)}`);
  const user = fc.constantFrom(...USERS).map((u) => U(u.replace('"', '\\"')));
  const tenant = fc.constantFrom(...TENANTS).map(T);
  const sets: fc.Arbitrary<string>[] = [
    fc.constant('principal.roles'),
    fc.tuple(role, role).map(([a, b]) => `[${a}, ${b}]`),
    role.map((a) => `[${a}]`),
  ];
  if (s.resource === 'User') sets.push(fc.constant('resource.roles'));
  for (const name of s.sets) sets.push(fc.constant(`context.${name}`));
  const set = fc.oneof(...sets);
  const long = fc.oneof(
    fc.constantFrom(...LONGS),
    fc
      .tuple(fc.constantFrom(...LONGS), fc.constantFrom('+', '-', '*'), fc.constantFrom(...LONGS))
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.constantFrom(...LONGS).map((a) => `(-(${a}))`),
  );
  const out: fc.Arbitrary<string>[] = [
    fc.constantFrom('true', 'false', 'principal.isOwner', 'principal is Cedargate::User'),
    fc.constantFrom('"a" == "a"', '"a" != "b"', 'principal.tenant has x'),
    tenant.map((t) => `principal.tenant == ${t}`),
    tenant.map((t) => `principal in ${t}`),
    fc.tuple(tenant, tenant).map(([a, b]) => `principal in [${a}, ${b}]`),
    tenant.map((t) => `principal is Cedargate::User in ${t}`),
    user.map((u) => `principal == ${u}`),
    user.map((u) => `${u}.isOwner`),
    user.map((u) => `${u}.tenant == principal.tenant`),
    user.map((u) => `${u} has isOwner`),
    fc.tuple(set, role).map(([a, r]) => `${a}.contains(${r})`),
    fc.tuple(set, set).map(([a, b]) => `${a}.containsAll(${b})`),
    fc.tuple(set, set).map(([a, b]) => `${a}.containsAny(${b})`),
    set.map((a) => `${a}.isEmpty()`),
    fc.tuple(set, set).map(([a, b]) => `${a} == ${b}`),
    fc.tuple(role, set).map(([r, a]) => `${r} in ${a}`),
    fc
      .tuple(long, fc.constantFrom('<', '<=', '>', '>=', '==', '!='), long)
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.constantFrom(
      `action == ${A('users:update')}`,
      `action in [${A('users:read')}, ${A('users:list')}]`,
    ),
  ];
  if (p.group) out.push(fc.constant(`action in ${A('writes')}`));
  if (p.nick) {
    out.push(fc.constantFrom('principal has nick', 'principal has nick && principal.nick == "x"'));
    out.push(user.map((u) => `${u} has nick`));
  }
  if (s.resource === 'User') {
    out.push(
      fc.constantFrom(
        'resource.isOwner',
        'resource == principal',
        'resource != principal',
        'resource.tenant == principal.tenant',
        'resource in principal.tenant',
        'resource.roles.containsAny(principal.roles)',
      ),
      tenant.map((t) => `resource in ${t}`),
      user.map((u) => `resource == ${u}`),
    );
  }
  if (s.resource === 'Tenant') {
    out.push(fc.constantFrom('principal.tenant == resource', 'principal in resource'));
  }
  for (const b of s.bools) out.push(fc.constantFrom(`context.${b}`, `context has ${b}`));
  return fc.oneof(...out);
}

/** A Boolean condition over `s`, nested up to `depth`. */
function condition(p: SchemaParams, s: Scope, depth: number): fc.Arbitrary<string> {
  const leaf = leaves(p, s);
  if (depth <= 0) return leaf;
  const sub = condition(p, s, depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: sub.map((a) => `!(${a})`) },
    { weight: 2, arbitrary: fc.tuple(sub, sub).map(([a, b]) => `(${a} && ${b})`) },
    { weight: 2, arbitrary: fc.tuple(sub, sub).map(([a, b]) => `(${a} || ${b})`) },
    {
      weight: 1,
      arbitrary: fc.tuple(sub, sub, sub).map(([a, b, c]) => `(if ${a} then ${b} else ${c})`),
    },
  );
}

function resourceScope(s: Scope): fc.Arbitrary<string> {
  if (s.resource === 'Any') return fc.constant('resource');
  const type = `Cedargate::${s.resource}`;
  const extra =
    s.resource === 'User'
      ? [`resource is ${type} in ${T('t1')}`, `resource == ${U('u2')}`, `resource in ${T('t2')}`]
      : [`resource == ${T('t1')}`, `resource in ${T('t2')}`];
  return fc.constantFrom(`resource is ${type}`, `resource is ${type}`, ...extra);
}

/** One policy's text with its `@id` (and sometimes a `@notice`). */
export function policyArb(p: SchemaParams, id: string): fc.Arbitrary<string> {
  return fc.constantFrom(...scopesOf(p)).chain((s) =>
    fc
      .record({
        effect: fc.constantFrom('permit', 'forbid'),
        notice: fc.constantFrom(null, 'Denied.', 'Also denied.'),
        principal: fc.constantFrom(
          'principal',
          'principal',
          `principal == ${U('u1')}`,
          `principal in ${T('t1')}`,
          'principal is Cedargate::User',
          `principal is Cedargate::User in ${T('t2')}`,
        ),
        resource: resourceScope(s),
        clauses: fc.array(fc.tuple(fc.constantFrom('when', 'unless'), condition(p, s, 2)), {
          maxLength: 2,
        }),
      })
      .map((x) => {
        const notice = x.notice === null ? '' : `@notice(${JSON.stringify(x.notice)})\n`;
        const clauses = x.clauses.map(([k, c]) => `${k} { ${c} }`).join(' ');
        return `@id(${JSON.stringify(id)})\n${notice}${x.effect} (${x.principal}, ${s.action}, ${x.resource}) ${clauses};\n`;
      }),
  );
}

/** A schema and 1–`max` policies over it. */
export const policySetArb = (
  max: number,
): fc.Arbitrary<{ params: SchemaParams; policies: string[] }> =>
  schemaParamsArb.chain((params) =>
    fc
      .integer({ min: 1, max })
      .chain((n) =>
        fc
          .tuple(...Array.from({ length: n }, (_, i) => policyArb(params, `p${i}`)))
          .map((policies) => ({ params, policies })),
      ),
  );
