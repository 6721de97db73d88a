/**
 * What a policy command was pointed at: a policy directory, or one `.cedar` file of one. A single
 * file is read with the schema next to it (`schema.cedarschema` in the same directory), because a
 * policy can only be validated, formatted as Cedar or decided against the schema it was written
 * for; there is no other place to look for it.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SCHEMA_FILE } from './schema.js';

/** A policy directory (`file` null) or one policy file in `dir`. */
export interface PolicyTarget {
  /** The directory the schema (and, for a directory target, every policy file) is in. */
  dir: string;
  /** The one `.cedar` file, relative to `dir`; null for the whole directory. */
  file: string | null;
  /** What was given, for messages. */
  path: string;
}

/** A path that is neither a policy directory nor a usable `.cedar` file; one line. */
export class PolicyTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyTargetError';
  }
}

/**
 * Resolves `path` to a {@link PolicyTarget}; throws {@link PolicyTargetError}. `needsSchema`
 * false (fmt) accepts a `.cedar` file with no schema beside it.
 */
export async function resolvePolicyTarget(
  path: string,
  options: { needsSchema?: boolean } = {},
): Promise<PolicyTarget> {
  const info = await stat(path).catch(() => null);
  if (info === null) throw new PolicyTargetError(`${path}: no such policy directory or file`);
  if (info.isDirectory()) return { dir: path, file: null, path };
  if (!info.isFile() || !path.endsWith('.cedar')) {
    throw new PolicyTargetError(`${path}: not a policy directory or a .cedar file`);
  }
  const dir = dirname(path);
  if (options.needsSchema !== false) {
    const schema = join(dir, SCHEMA_FILE);
    const schemaInfo = await stat(schema).catch(() => null);
    if (schemaInfo?.isFile() !== true) {
      throw new PolicyTargetError(
        `${path}: a single policy file is checked against the schema next to it, and there is no ${schema}`,
      );
    }
  }
  return { dir, file: basename(path), path };
}
