/**
 * Which files make up a policy directory, and reading them as one consistent snapshot.
 *
 * A Kubernetes ConfigMap mount looks like this:
 *   schema.cedarschema -> ..data/schema.cedarschema
 *   ..data -> ..2024_05_01_10_00_00.123456789
 *   ..2024_05_01_10_00_00.123456789/
 * and an update writes a new timestamped dir, then renames a new `..data` link over the old one.
 * So: dot-entries are skipped (they hold the same files again), the top-level links are followed,
 * and a read that straddles a swap is retried.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SCHEMA_FILE } from './schema.js';

/** The policy test folder, not policies. */
export const TESTS_DIR = 'tests';

/** One file's content, named relative to the policy directory with `/` separators. */
export interface SourceFile {
  file: string;
  text: string;
}

/** Everything a policy set is built from, and the hash that names this content. */
export interface PolicySources {
  schema: SourceFile | null;
  policies: SourceFile[];
  /** Content hash of the schema and every policy file (names included). */
  version: string;
}

/** The `.cedar` files under `dir`, relative, sorted; skips `tests/` and dot-entries. */
export async function listPolicyFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  async function walk(abs: string, rel: string): Promise<void> {
    // Following links may lead back up the tree: visit each real directory once.
    const real = await realpath(abs);
    if (seen.has(real)) return;
    seen.add(real);
    const entries = await readdir(abs);
    for (const name of entries.sort()) {
      if (name.startsWith('.')) continue;
      if (rel === '' && name === TESTS_DIR) continue;
      const childAbs = join(abs, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      let info;
      try {
        info = await stat(childAbs); // follows symlinks
      } catch {
        continue; // a dangling link, or a file removed while we list
      }
      if (info.isDirectory()) await walk(childAbs, childRel);
      else if (info.isFile() && name.endsWith('.cedar')) out.push(childRel);
    }
  }
  await walk(dir, '');
  return out.sort();
}

/** The directories to watch under `dir` (itself included), skipping what the listing skips. */
export async function listWatchDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  async function walk(abs: string, top: boolean): Promise<void> {
    const real = await realpath(abs).catch(() => null);
    if (real === null || seen.has(real)) return;
    seen.add(real);
    out.push(abs);
    const entries = await readdir(abs).catch(() => [] as string[]);
    for (const name of entries) {
      if (name.startsWith('.') || (top && name === TESTS_DIR)) continue;
      const info = await stat(join(abs, name)).catch(() => null);
      if (info?.isDirectory() === true) await walk(join(abs, name), false);
    }
  }
  await walk(dir, true);
  return out;
}

/**
 * Reads the schema and every policy file of `dir`. When `dir` is a ConfigMap mount and `..data`
 * was swapped while reading, reads again so the result is one version of the ConfigMap. If it
 * keeps changing, this throws rather than return a mix of two versions (or one with a file the
 * kubelet removed mid-read, which would silently drop that file's policies): the reload fails,
 * the last good set keeps serving, and the next trigger reads again. `only` (a file relative to
 * `dir`) reads that one policy file beside the schema instead of all of them.
 */
export async function readPolicySources(dir: string, only?: string): Promise<PolicySources> {
  for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
    const before = await dataLinkOf(dir);
    const sources = await readOnce(dir, only);
    const after = await dataLinkOf(dir);
    if (before === after) return sources;
  }
  throw new Error(
    `${dir}: the ConfigMap changed during ${MAX_READ_ATTEMPTS} reads in a row; keeping the last good set until it settles`,
  );
}

const MAX_READ_ATTEMPTS = 5;

async function dataLinkOf(dir: string): Promise<string | null> {
  return readlink(join(dir, '..data')).catch(() => null);
}

async function readOnce(dir: string, only: string | undefined): Promise<PolicySources> {
  const schemaText = await readFile(join(dir, SCHEMA_FILE), 'utf8').catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    },
  );
  const policies: SourceFile[] = [];
  for (const file of only === undefined ? await listPolicyFiles(dir) : [only]) {
    try {
      policies.push({ file, text: await readFile(join(dir, file), 'utf8') });
    } catch (err) {
      // Deleted between listing and reading: it is not part of this version. The one file asked
      // for is another matter: without it there is nothing to read.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || only !== undefined) throw err;
    }
  }
  const schema = schemaText === null ? null : { file: SCHEMA_FILE, text: schemaText };
  return { schema, policies, version: hashSources(schema, policies) };
}

function hashSources(schema: SourceFile | null, policies: SourceFile[]): string {
  const hash = createHash('sha256');
  for (const f of schema === null ? policies : [schema, ...policies]) {
    hash.update(f.file).update('\0').update(f.text).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
