/**
 * A policy directory over a schema with many roles: the shipped policies unchanged, the shipped
 * schema's `Role` enum widened to `count` roles (admin, user, viewer first). A permissions answer
 * over it asks one decision per role, so its cost grows with the schema: the third round's
 * "20 roles, 25 decisions per answer" (issue 22, item 3).
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedPolicies, tempDir } from './process.js';

const ROLE_ENUM = /entity Role enum \[[^\]]*\];/;

/** The `count` role names: the shipped three, then `role4`, `role5`, … */
export function wideRoles(count: number): string[] {
  const roles = ['admin', 'user', 'viewer'];
  for (let i = roles.length + 1; roles.length < count; i++) roles.push(`role${i}`);
  return roles.slice(0, count);
}

/** Writes the wide-role policy directory into a fresh temporary folder; the caller removes it. */
export function writeWideRolePolicies(count: number): {
  path: string;
  roles: string[];
  remove: () => void;
} {
  const dir = tempDir('cedargate-wide-roles-');
  const roles = wideRoles(count);
  const schema = readFileSync(join(shippedPolicies, 'schema.cedarschema'), 'utf8');
  const list = roles.map((r) => JSON.stringify(r)).join(', ');
  writeFileSync(
    join(dir.path, 'schema.cedarschema'),
    schema.replace(ROLE_ENUM, `entity Role enum [${list}];`),
  );
  for (const f of readdirSync(shippedPolicies).filter((n) => n.endsWith('.cedar')))
    copyFileSync(join(shippedPolicies, f), join(dir.path, f));
  return { ...dir, roles };
}
