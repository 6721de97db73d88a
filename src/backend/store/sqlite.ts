/**
 * The embedded users store: one SQLite file, `DATA_DIR/cedargate.db` (better-sqlite3).
 *
 * - WAL with `synchronous=FULL`: a write is on disk when its call returns, so a `kill -9`
 *   (or a power cut) loses nothing that was acknowledged.
 * - `busy_timeout`: 5 s while opening and migrating (another process may be mid-write), then
 *   250 ms: better-sqlite3 waits on the event loop, so a write lock held by another process must
 *   not freeze every request; a write that cannot get it is 503 `unavailable` with Retry-After.
 *   WAL readers never wait for a writer, so reads and /healthz go on meanwhile.
 * - Every statement names the tenant; ids are stored in canonical upper case.
 * - Each write runs in an IMMEDIATE transaction (the write lock is taken up front, so two
 *   processes serialize instead of failing on upgrade), and updates are conditional on the
 *   version read (`UPDATE ... WHERE version = ?`), the optimistic-concurrency check.
 *
 * better-sqlite3 is synchronous; the methods are async only to fit the UserStore interface.
 */
import { decodeCursor, encodeCursor } from './cursor.js';
import { DEFAULT_PAGE_MAX_BYTES, fitsInPage, pageBytesOf } from './page-budget.js';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PreconditionFailedError, UnavailableError } from '../../errors.js';
import { canonicalId, newUserId } from '../../common/ids.js';
import {
  OWNER_ROLE,
  type NewUser,
  type StoredUser,
  type Tenant,
  type UserPatch,
} from '../../common/user.js';
import { checkPageLimit } from '../../common/list-query.js';
import {
  emailTaken,
  newTenantIdFor,
  noSuchTenant,
  noSuchUser,
  tenantExists,
  type ListOptions,
  type NewTenantOptions,
  type UserPage,
  type UserStore,
} from './store.js';

export const SQLITE_FILE = 'cedargate.db';
const OPEN_BUSY_TIMEOUT_MS = 5_000;
/** Long enough for another process's ordinary write (a `tenant create`) to finish. */
const BUSY_TIMEOUT_MS = 250;
const BUSY_RETRY_AFTER_SECONDS = 1;

/** Runs a write; a write lock held elsewhere past the busy timeout becomes a quick 503. */
function lockedOut<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY')) {
      throw new UnavailableError('the users store (SQLite) is locked by another process', {
        cause: err,
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      });
    }
    throw err;
  }
}

/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tenants (
     id         TEXT PRIMARY KEY,
     name       TEXT NOT NULL,
     created_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE users (
     tenant_id     TEXT NOT NULL REFERENCES tenants(id),
     id            TEXT NOT NULL,
     name          TEXT NOT NULL,
     email         TEXT NOT NULL,
     roles         TEXT NOT NULL,
     is_owner      INTEGER NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
     avatar        TEXT,
     auth_provider TEXT NOT NULL,
     created_at    TEXT NOT NULL,
     updated_at    TEXT NOT NULL,
     version       INTEGER NOT NULL,
     PRIMARY KEY (tenant_id, id)
   ) STRICT;
   CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email COLLATE NOCASE);
   CREATE UNIQUE INDEX users_tenant_owner ON users (tenant_id) WHERE is_owner = 1;
   CREATE INDEX users_tenant_order ON users (tenant_id, created_at, id);`,
];

interface UserRow {
  tenant_id: string;
  id: string;
  name: string;
  email: string;
  roles: string;
  is_owner: number;
  avatar: string | null;
  auth_provider: string;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface SqliteStoreOptions {
  /** The clock for created_at/updated_at; injectable for tests. */
  now?: () => Date;
  /**
   * Keep the opening's long busy timeout for writes too: for one-shot commands (`tenant create`),
   * which have no requests to keep answering and should wait out another process's write.
   */
  waitForLocks?: boolean;
}

/** Turns a row into the project's type: the one place SQLite's shapes are converted. */
function toStoredUser(row: UserRow): StoredUser {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    email: row.email,
    roles: JSON.parse(row.roles) as string[],
    is_owner: row.is_owner === 1,
    avatar: row.avatar,
    auth_provider: row.auth_provider,
    created_at: row.created_at,
    updated_at: row.updated_at,
    version: row.version,
  };
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function isKeyViolation(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Opens (creating and migrating as needed) the SQLite store in `dataDir`. */
export function openSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): UserStore {
  const db = openDatabase(dataDir, options);
  const stmt = prepareStatements(db);
  const tx = writeTransactions(db, stmt, options.now ?? (() => new Date()));
  let closed = false;

  // UserStore is asynchronous for the sake of Redis; better-sqlite3 answers synchronously.
  // The methods stay `async` so that a thrown error reaches callers as a rejection, as Redis's do.
  /* eslint-disable @typescript-eslint/require-await */
  return {
    async createTenant(name, owner, options?: NewTenantOptions) {
      const tenant: Tenant = { id: newTenantIdFor(options), name };
      return lockedOut(() => tx.createTenant.immediate(tenant, owner));
    },

    async listTenants() {
      return stmt.listTenants.all();
    },

    async getTenant(tenantId) {
      return stmt.getTenant.get(canonicalId(tenantId)) ?? null;
    },

    async listUsers(tenantId, options: ListOptions): Promise<UserPage> {
      return readPage(stmt, tenantId, options);
    },

    async getUser(tenantId, userId) {
      const row = stmt.getUser.get(canonicalId(tenantId), canonicalId(userId));
      return row === undefined ? null : toStoredUser(row);
    },

    async createUser(tenantId, input) {
      return lockedOut(() => tx.createUser.immediate(canonicalId(tenantId), input));
    },

    async updateUser(tenantId, userId, patch, expectedVersion) {
      return lockedOut(() =>
        tx.updateUser.immediate(canonicalId(tenantId), userId, patch, expectedVersion),
      );
    },

    async deleteUser(tenantId, userId, expectedVersion) {
      lockedOut(() => tx.deleteUser.immediate(canonicalId(tenantId), userId, expectedVersion));
    },

    async ping() {
      stmt.ping.get();
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
  /* eslint-enable @typescript-eslint/require-await */
}

/** The database file, owner-only, in WAL with full syncs, migrated; closed again if that fails. */
function openDatabase(dataDir: string, options: SqliteStoreOptions): Database.Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, SQLITE_FILE);
  const db = new Database(file);
  try {
    // Owner-only, whatever the umask: SQLite gives the -wal and -shm files the same mode.
    chmodSync(file, 0o600);
    // busy_timeout first: switching to WAL and migrating take locks another process may hold.
    db.pragma(`busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    if (options.waitForLocks !== true) db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** The columns an update writes (the version is the one read: the update is conditional on it). */
interface UserUpdate {
  tenant_id: string;
  id: string;
  name: string;
  roles: string;
  avatar: string | null;
  updated_at: string;
  version: number;
}

/** Every statement the store runs, prepared once; each names the tenant. */
function prepareStatements(db: Database.Database) {
  return {
    getTenant: db.prepare<[string], Tenant>('SELECT id, name FROM tenants WHERE id = ?'),
    listTenants: db.prepare<[], Tenant>('SELECT id, name FROM tenants ORDER BY created_at, id'),
    insertTenant: db.prepare<[string, string, string]>(
      'INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)',
    ),
    getUser: db.prepare<[string, string], UserRow>(
      'SELECT * FROM users WHERE tenant_id = ? AND id = ?',
    ),
    emailInUse: db.prepare<[string, string], { id: string }>(
      'SELECT id FROM users WHERE tenant_id = ? AND email = ? COLLATE NOCASE',
    ),
    insertUser: db.prepare<UserRow>(
      `INSERT INTO users (tenant_id, id, name, email, roles, is_owner, avatar, auth_provider,
                          created_at, updated_at, version)
       VALUES (@tenant_id, @id, @name, @email, @roles, @is_owner, @avatar, @auth_provider,
               @created_at, @updated_at, @version)`,
    ),
    updateUser: db.prepare<[UserUpdate]>(
      `UPDATE users SET name = @name, roles = @roles, avatar = @avatar, updated_at = @updated_at,
                        version = @version + 1
       WHERE tenant_id = @tenant_id AND id = @id AND version = @version`,
    ),
    deleteUser: db.prepare<[string, string, number]>(
      'DELETE FROM users WHERE tenant_id = ? AND id = ? AND version = ?',
    ),
    firstPage: db.prepare<[string, number], UserRow>(
      'SELECT * FROM users WHERE tenant_id = ? ORDER BY created_at, id LIMIT ?',
    ),
    nextPage: db.prepare<[string, string, string, number], UserRow>(
      `SELECT * FROM users WHERE tenant_id = ? AND (created_at, id) > (?, ?)
       ORDER BY created_at, id LIMIT ?`,
    ),
    ping: db.prepare('SELECT 1'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * One page of a tenant's users. One extra row tells whether another page exists. Rows are read
 * one at a time and the reading stops at the byte budget, so a page of large avatars is never all
 * in memory.
 */
function readPage(stmt: Statements, tenantId: string, options: ListOptions): UserPage {
  const { limit, cursor, maxBytes = DEFAULT_PAGE_MAX_BYTES } = options;
  checkPageLimit(limit);
  const tenant = canonicalId(tenantId);
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const rows =
    after === undefined
      ? stmt.firstPage.iterate(tenant, limit + 1)
      : stmt.nextPage.iterate(tenant, after.createdAt, after.id, limit + 1);
  const users: StoredUser[] = [];
  let used = 0;
  let more = false;
  for (const row of rows) {
    const user = toStoredUser(row);
    const bytes = pageBytesOf(user);
    if (users.length === limit || !fitsInPage(users.length, used, bytes, maxBytes)) {
      more = true;
      break; // ends the iteration: better-sqlite3 resets the statement
    }
    users.push(user);
    used += bytes;
  }
  const last = users[users.length - 1];
  return {
    users,
    nextCursor:
      more && last !== undefined ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}

/** A new user's row: an owner holds the owner's role alone, whatever the input asked. */
function newUserRow(tenantId: string, input: NewUser, isOwner: boolean, at: string): UserRow {
  return {
    tenant_id: tenantId,
    id: newUserId(),
    name: input.name,
    email: input.email,
    roles: JSON.stringify(isOwner ? [OWNER_ROLE] : input.roles),
    is_owner: isOwner ? 1 : 0,
    avatar: input.avatar ?? null,
    auth_provider: input.auth_provider ?? 'local',
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

/** The row a patch makes of `row`, at `at`. */
function updateOf(row: UserRow, patch: UserPatch, at: string): UserUpdate {
  return {
    tenant_id: row.tenant_id,
    id: row.id,
    name: patch.name ?? row.name,
    roles: patch.roles === undefined ? row.roles : JSON.stringify(patch.roles),
    avatar: patch.avatar === undefined ? row.avatar : patch.avatar,
    updated_at: at,
    version: row.version,
  };
}

/** Inserts a new user; its email must be free in the tenant. Runs inside a write transaction. */
function insertUser(
  stmt: Statements,
  tenantId: string,
  input: NewUser,
  isOwner: boolean,
  at: string,
): StoredUser {
  if (stmt.emailInUse.get(tenantId, input.email) !== undefined) throw emailTaken(input.email);
  const row = newUserRow(tenantId, input, isOwner, at);
  try {
    stmt.insertUser.run(row);
  } catch (err) {
    // The unique index is the backstop for the check above.
    if (isUniqueViolation(err)) throw emailTaken(input.email);
    throw err;
  }
  return toStoredUser(row);
}

/** The current row, or NotFoundError / PreconditionFailedError. */
function currentRow(
  stmt: Statements,
  tenantId: string,
  userId: string,
  expectedVersion?: number,
): UserRow {
  const row = stmt.getUser.get(tenantId, canonicalId(userId));
  if (row === undefined) throw noSuchUser();
  if (expectedVersion !== undefined && row.version !== expectedVersion) {
    throw new PreconditionFailedError();
  }
  return row;
}

/** The writes, each one transaction (run `.immediate`, so the write lock is taken up front). */
function writeTransactions(db: Database.Database, stmt: Statements, now: () => Date) {
  const at = () => now().toISOString();
  return {
    createTenant: db.transaction((tenant: Tenant, owner: NewUser) => {
      // An immediate transaction holds the write lock: no other writer comes between the check
      // and the insert; the primary key is the backstop.
      if (stmt.getTenant.get(tenant.id) !== undefined) throw tenantExists(tenant.id);
      try {
        stmt.insertTenant.run(tenant.id, tenant.name, at());
      } catch (err) {
        if (isKeyViolation(err)) throw tenantExists(tenant.id);
        throw err;
      }
      return { tenant, owner: insertUser(stmt, tenant.id, owner, true, at()) };
    }),

    createUser: db.transaction((tenantId: string, input: NewUser) => {
      if (stmt.getTenant.get(tenantId) === undefined) throw noSuchTenant();
      return insertUser(stmt, tenantId, input, false, at());
    }),

    updateUser: db.transaction(
      (tenantId: string, userId: string, patch: UserPatch, expectedVersion?: number) => {
        const row = currentRow(stmt, tenantId, userId, expectedVersion);
        const next = updateOf(row, patch, at());
        // Conditional on the version we read: inside the transaction it always holds, and it
        // keeps the update correct even if this code ever runs outside one.
        if (stmt.updateUser.run(next).changes !== 1) throw new PreconditionFailedError();
        return toStoredUser({ ...row, ...next, version: row.version + 1 });
      },
    ),

    deleteUser: db.transaction((tenantId: string, userId: string, expectedVersion?: number) => {
      const row = currentRow(stmt, tenantId, userId, expectedVersion);
      if (stmt.deleteUser.run(row.tenant_id, row.id, row.version).changes !== 1) {
        throw new PreconditionFailedError();
      }
    }),
  };
}

/** Applies the migrations this file has not yet seen, under the write lock. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const applied = db.pragma('user_version', { simple: true }) as number;
    if (applied > MIGRATIONS.length) {
      throw new Error(
        `${db.name}: schema version ${applied} is newer than this cedargate (${MIGRATIONS.length}); upgrade cedargate`,
      );
    }
    for (const [i, sql] of MIGRATIONS.entries()) {
      if (i < applied) continue;
      db.exec(sql);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
