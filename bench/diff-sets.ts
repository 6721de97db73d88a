/**
 * The policy directories `policy diff` is measured on (docs/policies.md, "Cost"): the shipped
 * set with its `Role` enum widened, roles named by forbids of the `only-owner-grants-admin`
 * shape, each beside a realistic mutation. Writes them under OUT (default .tmp/diff-sets):
 *
 *   npm run build && node dist/bench/diff-sets.js [OUT]
 *   time bin/cedargate policy diff OUT/named8 OUT/named8-mut
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './processes.js';

const ROLES = ['admin', 'user', 'viewer', 'auditor', 'billing', 'support', 'developer', 'operator'];
const MORE = ['analyst', 'editor', 'reviewer', 'guest'];

type Edit = (file: string, text: string) => string;

const privileged = (role: string) => `@id("privileged-${role}")
@notice("Only the tenant owner may grant or revoke the ${role} role.")
forbid (principal, action == Cedargate::Action::"users:update", resource is Cedargate::User)
when { context.rolesAdded.contains(Cedargate::Role::"${role}") || context.rolesRemoved.contains(Cedargate::Role::"${role}") }
unless { principal.isOwner };
`;

/** `viewer` joins `admin` among the roles only the owner grants (the shipped rule widened). */
const widen: Edit = (f, t) =>
  f !== 'admins.cedar'
    ? t
    : t.replace(
        'context.rolesAdded.contains(Cedargate::Role::"admin") ||\n  context.rolesRemoved.contains(Cedargate::Role::"admin")',
        'context.rolesAdded.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"]) ||\n  context.rolesRemoved.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"])',
      );
/** Listing users narrowed to the owner. */
const narrow: Edit = (f, t) =>
  f !== 'tenancy.cedar'
    ? t
    : t.replace(
        'when { principal.tenant == resource };',
        'when { principal.tenant == resource && principal.isOwner };',
      );

function write(out: string, name: string, roles: string[], named: string[], edit: Edit): void {
  const dir = join(out, name);
  const shipped = join(repoRoot, 'policies');
  mkdirSync(dir, { recursive: true });
  cpSync(shipped, dir, { recursive: true });
  rmSync(join(dir, 'tests'), { recursive: true, force: true });
  const schema = join(dir, 'schema.cedarschema');
  writeFileSync(
    schema,
    readFileSync(schema, 'utf8').replace(
      /entity Role enum \[[^\]]*\];/,
      `entity Role enum [${roles.map((r) => JSON.stringify(r)).join(', ')}];`,
    ),
  );
  if (named.length > 0)
    writeFileSync(join(dir, 'privileged.cedar'), named.map(privileged).join('\n'));
  for (const f of ['admins.cedar', 'tenancy.cedar']) {
    const path = join(dir, f);
    writeFileSync(path, edit(f, readFileSync(path, 'utf8')));
  }
}

/** The named-role counts written (and timed by diff-timings.ts). */
export const NAMED_COUNTS = [4, 8, 9, 10, 12] as const;

/** Writes every pair of directories under `out` (emptied first). */
export function writeDiffSets(out: string): void {
  rmSync(out, { recursive: true, force: true });
  const keep: Edit = (_f, t) => t;
  write(out, 'shipped', ROLES.slice(0, 3), [], keep);
  write(out, 'shipped-widen', ROLES.slice(0, 3), [], widen);
  for (const n of NAMED_COUNTS) {
    const roles = [...ROLES, ...MORE].slice(0, n);
    // Every role but admin named by a forbid; the mutation drops the last one and narrows list.
    write(out, `named${n}`, roles, roles.slice(1), keep);
    write(out, `named${n}-mut`, roles, roles.slice(1, -1), narrow);
    // admin, viewer and auditor named; the rest interchangeable.
    write(out, `r${n}n3`, roles, ['viewer', 'auditor'], keep);
    write(out, `r${n}n3-mut`, roles, ['viewer', 'auditor'], widen);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2] ?? join(repoRoot, '.tmp', 'diff-sets');
  writeDiffSets(out);
  process.stdout.write(`policy directories written under ${out}\n`);
}
