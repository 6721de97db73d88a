/**
 * One serving process per DATA_DIR without Redis: two would share the SQLite file but keep
 * separate user caches that disagree for their TTL. A lock file holds the owner's pid; a lock
 * whose pid is no longer alive (a crash, kill -9) is taken over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../config.js';

export const DATA_DIR_LOCK_FILE = 'cedargate.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes DATA_DIR's lock or throws a ConfigError naming the holder; returns the release. */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, DATA_DIR_LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new ConfigError(
        'DATA_DIR',
        `${dataDir} is in use by another cedargate (pid ${holder}, ${file}); give each process ` +
          `its own DATA_DIR, or share the users through REDIS_URL`,
        '/var/lib/cedargate-2',
      );
    }
    rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new Error(`could not take the lock ${file}`);
}
