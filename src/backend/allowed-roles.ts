/**
 * The allowed role names, kept current: read from the schema's `Role` enum at start (a broken
 * schema stops the start), then re-read when the schema file changes on disk, so a role the
 * policies start naming is accepted without a backend restart. A change that does not parse
 * keeps the last good set and is logged.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { readAllowedRoles, SCHEMA_FILE } from '../policy/schema.js';

/** The allowed role names as they stand now, for the backend's 422 checks. */
export interface AllowedRoles {
  /** The roles of the last schema that parsed (frozen). */
  current(): readonly string[];
  /** Stops watching the schema file. */
  close(): void;
}

/** What identifies one version of the file; stat follows symlinks (Kubernetes' ..data swap). */
function signatureOf(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** Reads the roles now and re-reads them when `policyDir/schema.cedarschema` changes. */
export function watchAllowedRoles(
  policyDir: string,
  options: { pollMs: number; logger: Logger; read?: (dir: string) => string[] },
): AllowedRoles {
  const read = options.read ?? readAllowedRoles;
  const path = join(policyDir, SCHEMA_FILE);
  // The signature is taken before the read, so a change racing the read is seen next poll.
  let seen = signatureOf(path);
  let roles: readonly string[] = Object.freeze(read(policyDir));
  const timer = setInterval(() => {
    const now = signatureOf(path);
    if (now === seen) return;
    seen = now;
    try {
      const next = Object.freeze(read(policyDir));
      const retiredRoles = roles.filter((r) => !next.includes(r));
      roles = next;
      // A retired role is refused from now on (422), yet users who hold it keep it in the store.
      if (retiredRoles.length === 0)
        options.logger.info({ roles, retiredRoles }, 'allowed roles reloaded from the schema');
      else
        options.logger.warn(
          { roles, retiredRoles },
          `allowed roles reloaded from the schema; no longer allowed: ${retiredRoles.join(', ')}`,
        );
    } catch (err) {
      options.logger.error({ err }, 'schema change refused; keeping the last good roles');
    }
  }, options.pollMs);
  timer.unref();
  return {
    current: () => roles,
    close: () => clearInterval(timer),
  };
}
