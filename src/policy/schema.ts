/**
 * The schema, and the one reader of role names in it. The sidecar's policy set, the backend's
 * allowed roles and the CLI all go through {@link parseSchema}, so they cannot disagree on which
 * `Role` enum counts: a schema may declare other namespaces, but the roles are those of the
 * namespace that declares `User`, `Tenant` and `Role` together (the shape the sidecar builds its
 * entities in).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSchema } from './cedar-adapter.js';
import type { CedarProblem } from './cedar-adapter.js';
import { shapesOf } from './schema-json.js';
import type { ParsedSchema } from './types.js';

/** The schema's file name inside POLICY_DIR. */
export const SCHEMA_FILE = 'schema.cedarschema';

/**
 * Parses a schema in Cedar syntax. It must declare the `User`, `Tenant` and `Role` entity types
 * in one namespace; the first such namespace (by name) is the one cedargate speaks. Cedar
 * converts the text here and nowhere else: the answer keeps the typed JSON and its shapes.
 */
export function parseSchema(
  text: string,
): { ok: true; schema: ParsedSchema } | { ok: false; problems: CedarProblem[] } {
  const resolved = resolveSchema(text);
  if (!resolved.ok) return resolved;
  for (const [ns, def] of Object.entries(resolved.namespaces)) {
    const roleEnum = def.entityTypes['Role']?.enum;
    if (roleEnum === undefined || !('User' in def.entityTypes) || !('Tenant' in def.entityTypes))
      continue;
    const qualify = (name: string) => (ns === '' ? name : `${ns}::${name}`);
    return {
      ok: true,
      schema: {
        text,
        json: resolved.json,
        shapes: shapesOf(resolved.json),
        roles: [...roleEnum],
        types: {
          user: qualify('User'),
          tenant: qualify('Tenant'),
          role: qualify('Role'),
          action: qualify('Action'),
        },
        entityAttributes: def.entityAttributes,
      },
    };
  }
  return {
    ok: false,
    problems: [
      {
        message:
          'the schema must declare `entity Role enum [...]`, `entity Tenant` and `entity User` in one namespace',
      },
    ],
  };
}

/** The role names of schema text, by {@link parseSchema}'s rule; throws naming the problems. */
export function roleNamesOf(text: string): string[] {
  const parsed = parseSchema(text);
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('; '));
  return parsed.schema.roles;
}

/** Reads the allowed role names from the schema in `policyDir`; throws naming the file. */
export function readAllowedRoles(policyDir: string): string[] {
  const path = join(policyDir, SCHEMA_FILE);
  try {
    return roleNamesOf(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
