import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DATA_DIR_LOCK_FILE, lockDataDir } from '../../../../src/backend/store/sqlite-lock.js';
import { ConfigError } from '../../../../src/config.js';
import { tempDir } from '../../../helpers/process.js';

describe('lockDataDir', () => {
  it('refuses a second holder while the first lives, and frees the lock on release', () => {
    const dir = tempDir('cedargate-lock-');
    try {
      const release = lockDataDir(dir.path);
      assert.throws(
        () => lockDataDir(dir.path),
        (err: unknown) => err instanceof ConfigError && err.message.includes(`pid ${process.pid}`),
      );
      release();
      assert.equal(existsSync(join(dir.path, DATA_DIR_LOCK_FILE)), false);
      lockDataDir(dir.path)();
    } finally {
      dir.remove();
    }
  });

  it('takes over a lock whose pid is dead', () => {
    const dir = tempDir('cedargate-lock-');
    try {
      writeFileSync(join(dir.path, DATA_DIR_LOCK_FILE), '4194305\n');
      lockDataDir(dir.path)();
    } finally {
      dir.remove();
    }
  });
});
