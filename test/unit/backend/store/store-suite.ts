/**
 * The conformance suite every UserStore implementation runs unchanged (SQLite now, Redis
 * later): CRUD, tenant scoping, per-tenant email uniqueness, pagination, optimistic
 * concurrency, durability across reopen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pageBytesOf } from '../../../../src/backend/store/page-budget.js';
import type { UserStore } from '../../../../src/backend/store/store.js';
import type { NewUser, StoredUser } from '../../../../src/common/user.js';
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  PreconditionFailedError,
} from '../../../../src/errors.js';

export interface OpenedStore {
  store: UserStore;
  /** Closes the store (if still open) and removes its data. */
  cleanup(): Promise<void>;
  /** A new store on the same data, for durability tests; the caller closes the old one first. */
  reopen?(): Promise<UserStore>;
}

const ID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

function newUser(n: number | string, extra: Partial<NewUser> = {}): NewUser {
  return { name: `user ${n}`, email: `user${n}@example.com`, roles: ['user'], ...extra };
}

/** An avatar data URI of exactly `bytes` bytes. */
function avatarOf(bytes: number): string {
  const prefix = 'data:image/png;base64,';
  return prefix + 'A'.repeat(Math.floor((bytes - prefix.length) / 4) * 4);
}

/** Follows the cursors to the end; every page is checked against the byte budget. */
async function readAllPages(
  store: UserStore,
  tenantId: string,
  limit: number,
  maxBytes: number,
): Promise<{ users: StoredUser[]; pages: number[] }> {
  const users: StoredUser[] = [];
  const pages: number[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.listUsers(tenantId, { limit, cursor, maxBytes });
    const bytes = page.users.reduce((n, u) => n + pageBytesOf(u), 0);
    assert.ok(page.users.length >= 1 || page.nextCursor === null, 'an empty page that continues');
    assert.ok(
      page.users.length <= 1 || bytes <= maxBytes,
      `a page of ${page.users.length} users takes ${bytes} bytes, over the budget of ${maxBytes}`,
    );
    users.push(...page.users);
    pages.push(page.users.length);
    if (page.nextCursor === null) return { users, pages };
    cursor = page.nextCursor;
  }
}

async function withStore(
  open: () => Promise<OpenedStore>,
  body: (opened: OpenedStore) => Promise<void>,
): Promise<void> {
  const opened = await open();
  try {
    await body(opened);
  } finally {
    await opened.cleanup();
  }
}

async function newTenant(store: UserStore, name = 'Acme'): Promise<string> {
  const { tenant } = await store.createTenant(name, {
    name: 'Owner',
    email: `owner@${name.toLowerCase()}.example`,
    roles: ['admin'],
  });
  return tenant.id;
}

/** Registers the suite under `name`; `open` gives a fresh, empty store each time. */
export function describeStoreSuite(name: string, open: () => Promise<OpenedStore>): void {
  describe(`UserStore conformance: ${name}`, () => {
    describe('tenants', () => {
      it('creates a tenant and its owner: roles ["admin"], is_owner, version 1, canonical ids', () =>
        withStore(open, async ({ store }) => {
          const { tenant, owner } = await store.createTenant('Acme', {
            name: 'Ada',
            email: 'ada@acme.example',
            roles: ['user'],
          });
          assert.match(tenant.id, ID);
          assert.equal(tenant.name, 'Acme');
          assert.match(owner.id, ID);
          assert.equal(owner.tenant_id, tenant.id);
          assert.deepEqual(owner.roles, ['admin']);
          assert.equal(owner.is_owner, true);
          assert.equal(owner.version, 1);
          assert.deepEqual(await store.getTenant(tenant.id), tenant);
          assert.deepEqual(await store.getTenant(tenant.id.toLowerCase()), tenant);
          assert.deepEqual(await store.getUser(tenant.id, owner.id), owner);
          assert.equal(await store.getTenant(MISSING_ID), null);
        }));

      it('lists every tenant, once, with id and name only', () =>
        withStore(open, async ({ store }) => {
          const made = [];
          for (const name of ['Acme', 'Globex', 'Initech']) {
            made.push(
              (
                await store.createTenant(name, {
                  name: 'O',
                  email: `o@${name.toLowerCase()}.example`,
                  roles: ['admin'],
                })
              ).tenant,
            );
          }
          const listed = await store.listTenants();
          for (const t of made)
            assert.deepEqual(
              listed.filter((l) => l.id === t.id),
              [t],
            );
          for (const l of listed) assert.deepEqual(Object.keys(l), ['id', 'name']);
        }));

      it('creates a tenant with the id asked for, canonical, and refuses it a second time', () =>
        withStore(open, async ({ store }) => {
          const asked = '2489e9ad-2ee2-8e00-8ec9-32d5f69181c0';
          const { tenant, owner } = await store.createTenant(
            'Acme',
            { name: 'Ada', email: 'ada@acme.example', roles: ['admin'] },
            { id: asked },
          );
          assert.equal(tenant.id, asked.toUpperCase());
          assert.equal(owner.tenant_id, tenant.id);
          assert.deepEqual(await store.getTenant(asked), { id: tenant.id, name: 'Acme' });

          // Taken in any case: ConflictError, and nothing of the second call is written.
          for (const again of [asked, asked.toUpperCase()]) {
            await assert.rejects(
              store.createTenant(
                'Other',
                { name: 'Eve', email: 'eve@other.example', roles: ['admin'] },
                { id: again },
              ),
              (err: unknown) =>
                err instanceof ConflictError &&
                err.code === 'conflict' &&
                err.message === `tenant ${tenant.id} already exists`,
            );
          }
          assert.deepEqual(await store.getTenant(tenant.id), { id: tenant.id, name: 'Acme' });
          const page = await store.listUsers(tenant.id, { limit: 200 });
          assert.deepEqual(
            page.users.map((u) => u.email),
            ['ada@acme.example'],
          );
          assert.equal((await store.listTenants()).filter((t) => t.id === tenant.id).length, 1);
        }));

      it('creates a tenant id asked for by several callers at once exactly once', () =>
        withStore(open, async ({ store }) => {
          const id = '5F0C2A4E-9B1D-4C3E-8A7F-6D5E4C3B2A19';
          const results = await Promise.allSettled(
            Array.from({ length: 5 }, (_, i) =>
              store.createTenant(
                `T${i}`,
                { name: `O${i}`, email: `o${i}@t.example`, roles: ['admin'] },
                { id },
              ),
            ),
          );
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r) => r.status === 'rejected');
          assert.equal(won.length, 1, 'exactly one caller creates it');
          for (const r of lost) assert.ok(r.reason instanceof ConflictError, String(r.reason));
          const page = await store.listUsers(id, { limit: 200 });
          assert.equal(page.users.length, 1, 'one owner, the winner');
          assert.equal(page.users[0]?.tenant_id, id);
        }));

      it('refuses a malformed or all-zero tenant id and writes nothing', () =>
        withStore(open, async ({ store }) => {
          for (const id of ['acme', '', '2489E9AD-2EE2-8E00-8EC9-32D5F69181C', MISSING_ID + 'x']) {
            await assert.rejects(
              store.createTenant('T', { name: 'O', email: 'o@t.example', roles: [] }, { id }),
              (err: unknown) => err instanceof InvalidInputError && err.code === 'invalid_input',
              JSON.stringify(id),
            );
          }
          await assert.rejects(
            store.createTenant(
              'T',
              { name: 'O', email: 'o@t.example', roles: [] },
              { id: '00000000-0000-0000-0000-000000000000' },
            ),
            (err: unknown) => err instanceof InvalidInputError && /reserved/.test(err.message),
          );
          assert.deepEqual(await store.listTenants(), []);
        }));

      it('makes one owner per tenant; other users are not owners', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1));
          assert.equal(u.is_owner, false);
          const page = await store.listUsers(t, { limit: 200 });
          assert.equal(page.users.filter((x) => x.is_owner).length, 1);
        }));
    });

    describe('users CRUD', () => {
      it('creates with defaults and reads back by id in any case', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1, { roles: ['user', 'viewer'] }));
          assert.match(u.id, ID);
          assert.equal(u.tenant_id, t);
          assert.equal(u.name, 'user 1');
          assert.equal(u.email, 'user1@example.com');
          assert.deepEqual(u.roles, ['user', 'viewer']);
          assert.equal(u.avatar, null);
          assert.equal(u.auth_provider, 'local');
          assert.equal(u.version, 1);
          assert.equal(u.created_at, u.updated_at);
          assert.ok(!Number.isNaN(Date.parse(u.created_at)));
          assert.deepEqual(await store.getUser(t, u.id.toLowerCase()), u);
          assert.deepEqual(await store.getUser(t.toLowerCase(), u.id), u);
          assert.equal(await store.getUser(t, MISSING_ID), null);
        }));

      it('stores avatar and auth_provider as given', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const avatar = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
          const u = await store.createUser(t, newUser(1, { avatar, auth_provider: 'oidc' }));
          const read = await store.getUser(t, u.id);
          assert.equal(read?.avatar, avatar);
          assert.equal(read?.auth_provider, 'oidc');
        }));

      it('refuses a user in a tenant that does not exist', () =>
        withStore(open, async ({ store }) => {
          await assert.rejects(store.createUser(MISSING_ID, newUser(1)), NotFoundError);
        }));

      it('updates only what the patch names, replaces roles, bumps the version', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const avatar = 'data:image/png;base64,iVBORw0KGgo=';
          const u = await store.createUser(t, newUser(1, { roles: ['user', 'viewer'], avatar }));
          const renamed = await store.updateUser(t, u.id, { name: 'renamed' });
          assert.equal(renamed.name, 'renamed');
          assert.deepEqual(renamed.roles, ['user', 'viewer']);
          assert.equal(renamed.avatar, avatar);
          assert.equal(renamed.version, 2);
          assert.equal(renamed.created_at, u.created_at);
          assert.ok(renamed.updated_at >= u.updated_at);
          const reroled = await store.updateUser(t, u.id.toLowerCase(), {
            roles: ['admin'],
            avatar: null,
          });
          assert.deepEqual(reroled.roles, ['admin']);
          assert.equal(reroled.avatar, null);
          assert.equal(reroled.name, 'renamed');
          assert.equal(reroled.version, 3);
          assert.deepEqual(await store.getUser(t, u.id), reroled);
        }));

      it('refuses to update or delete a user that does not exist', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          await assert.rejects(store.updateUser(t, MISSING_ID, { name: 'x' }), NotFoundError);
          await assert.rejects(store.deleteUser(t, MISSING_ID), NotFoundError);
        }));

      it('deletes, after which the user is gone', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1));
          await store.deleteUser(t, u.id.toLowerCase());
          assert.equal(await store.getUser(t, u.id), null);
          await assert.rejects(store.deleteUser(t, u.id), NotFoundError);
          await assert.rejects(store.updateUser(t, u.id, { name: 'x' }), NotFoundError);
          // The email is free again.
          assert.equal((await store.createUser(t, newUser(1))).email, 'user1@example.com');
        }));
    });

    describe('tenant scoping', () => {
      it("never lets tenant B read, update or delete tenant A's users, by any id spelling", () =>
        withStore(open, async ({ store }) => {
          const a = await newTenant(store, 'Alpha');
          const b = await newTenant(store, 'Beta');
          const ua = await store.createUser(a, newUser(1));
          for (const id of [ua.id, ua.id.toLowerCase()]) {
            assert.equal(await store.getUser(b, id), null);
            await assert.rejects(
              store.updateUser(b, id, { name: 'stolen', roles: ['admin'] }),
              NotFoundError,
            );
            await assert.rejects(
              store.updateUser(b, id, { name: 'stolen' }, ua.version),
              NotFoundError,
            );
            await assert.rejects(store.deleteUser(b, id), NotFoundError);
            await assert.rejects(store.deleteUser(b, id, ua.version), NotFoundError);
          }
          assert.deepEqual(await store.getUser(a, ua.id), ua);
          const listed = await store.listUsers(b, { limit: 200 });
          assert.ok(listed.users.every((u) => u.tenant_id === b));
          assert.ok(!listed.users.some((u) => u.id === ua.id));
        }));

      it("a cursor from tenant A's list only ever yields tenant B's users in B", () =>
        withStore(open, async ({ store }) => {
          const a = await newTenant(store, 'Alpha');
          const b = await newTenant(store, 'Beta');
          for (let i = 0; i < 3; i++) {
            await store.createUser(a, newUser(`a${i}`));
            await store.createUser(b, newUser(`b${i}`));
          }
          const pageA = await store.listUsers(a, { limit: 1 });
          assert.ok(pageA.nextCursor !== null);
          const inB = await store.listUsers(b, { limit: 200, cursor: pageA.nextCursor });
          assert.ok(inB.users.every((u) => u.tenant_id === b));
        }));
    });

    describe('emails', () => {
      it('are unique per tenant, without regard to case (409)', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          await store.createUser(t, newUser(1));
          await assert.rejects(store.createUser(t, newUser(1, { name: 'other' })), ConflictError);
          await assert.rejects(
            store.createUser(t, newUser(2, { email: 'USER1@Example.com' })),
            ConflictError,
          );
          // The owner's email counts too.
          await assert.rejects(
            store.createUser(t, newUser(3, { email: 'owner@acme.example' })),
            ConflictError,
          );
        }));

      it('may repeat across tenants', () =>
        withStore(open, async ({ store }) => {
          const a = await newTenant(store, 'Alpha');
          const b = await newTenant(store, 'Beta');
          const ua = await store.createUser(a, newUser(1));
          const ub = await store.createUser(b, newUser(1));
          assert.notEqual(ua.id, ub.id);
          assert.equal(ua.email, ub.email);
        }));
    });

    describe('pagination', () => {
      it('covers every user exactly once, in a stable order', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const other = await newTenant(store, 'Other');
          const created = [];
          for (let i = 0; i < 23; i++) {
            created.push(await store.createUser(t, newUser(i)));
            if (i % 5 === 0) await store.createUser(other, newUser(i));
          }
          const seen: StoredUser[] = [];
          let cursor: string | undefined;
          let pages = 0;
          for (;;) {
            const page = await store.listUsers(t, { limit: 5, cursor });
            pages++;
            assert.ok(page.users.length <= 5);
            seen.push(...page.users);
            if (page.nextCursor === null) break;
            cursor = page.nextCursor;
          }
          assert.equal(pages, 5); // 24 users (owner included): 5+5+5+5+4
          assert.equal(seen.length, 24);
          assert.equal(new Set(seen.map((u) => u.id)).size, 24);
          assert.ok(seen.every((u) => u.tenant_id === t));
          for (const u of created) assert.ok(seen.some((s) => s.id === u.id));
          const again = await store.listUsers(t, { limit: 200 });
          assert.deepEqual(
            again.users.map((u) => u.id),
            seen.map((u) => u.id),
          );
          assert.equal(again.nextCursor, null);
        }));

      it('ends with a null cursor when the last page is exactly full', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          await store.createUser(t, newUser(1));
          const first = await store.listUsers(t, { limit: 2 });
          assert.equal(first.users.length, 2);
          assert.equal(first.nextCursor, null);
        }));

      it('lists nothing for a tenant with no users', () =>
        withStore(open, async ({ store }) => {
          assert.deepEqual(await store.listUsers(MISSING_ID, { limit: 10 }), {
            users: [],
            nextCursor: null,
          });
        }));

      it('refuses a cursor it did not issue and a limit out of range (400)', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          for (const cursor of [
            '',
            'garbage',
            '!!!',
            Buffer.from('x|y').toString('base64url'),
            'a'.repeat(5000),
          ]) {
            await assert.rejects(
              store.listUsers(t, { limit: 10, cursor }),
              InvalidInputError,
              cursor,
            );
          }
          for (const limit of [0, -1, 201, 1.5, Number.NaN]) {
            await assert.rejects(store.listUsers(t, { limit }), InvalidInputError, String(limit));
          }
        }));

      it('caps a page in bytes: fewer than limit users, a next_cursor, every user exactly once', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const other = await newTenant(store, 'Other');
          const created: StoredUser[] = [];
          for (let i = 0; i < 12; i++) {
            created.push(await store.createUser(t, newUser(i, { avatar: avatarOf(8 * 1024) })));
            if (i % 4 === 0) await store.createUser(other, newUser(i, { avatar: avatarOf(8192) }));
          }
          const first = await store.listUsers(t, { limit: 200, maxBytes: 20_000 });
          assert.ok(
            first.users.length < 13,
            `a 20000-byte page held ${first.users.length} users of 8 KiB`,
          );
          assert.notEqual(first.nextCursor, null);
          const { users, pages } = await readAllPages(store, t, 200, 20_000);
          assert.ok(
            pages.length >= 5,
            `13 users of ~8 KiB in 20000-byte pages: ${pages.join(', ')}`,
          );
          assert.equal(users.length, 13);
          assert.equal(new Set(users.map((u) => u.id)).size, 13);
          assert.ok(users.every((u) => u.tenant_id === t));
          for (const u of created) assert.ok(users.some((s) => s.id === u.id));
          // The count still bounds a page whose users are small.
          assert.deepEqual((await readAllPages(store, t, 5, 10_000_000)).pages, [5, 5, 3]);
        }));

      it('gives a user larger than the byte budget a page of its own', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          for (let i = 0; i < 3; i++) {
            await store.createUser(t, newUser(i, { avatar: avatarOf(16 * 1024) }));
          }
          const { users, pages } = await readAllPages(store, t, 200, 1000);
          assert.deepEqual(pages, [1, 1, 1, 1]);
          assert.equal(new Set(users.map((u) => u.id)).size, 4);
        }));

      it('does not skip or repeat a user when another is deleted between pages', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          for (let i = 0; i < 6; i++) await store.createUser(t, newUser(i));
          const first = await store.listUsers(t, { limit: 3 });
          const last = first.users[2];
          assert.ok(last !== undefined && first.nextCursor !== null);
          await store.deleteUser(t, last.id);
          const second = await store.listUsers(t, { limit: 10, cursor: first.nextCursor });
          assert.equal(second.users.length, 4);
          const ids = [...first.users, ...second.users].map((u) => u.id);
          assert.equal(new Set(ids).size, 7);
        }));
    });

    describe('optimistic concurrency', () => {
      it('updates and deletes only at the expected version (412 otherwise)', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1));
          const v2 = await store.updateUser(t, u.id, { name: 'a' }, 1);
          assert.equal(v2.version, 2);
          await assert.rejects(
            store.updateUser(t, u.id, { name: 'b' }, 1),
            PreconditionFailedError,
          );
          await assert.rejects(store.deleteUser(t, u.id, 1), PreconditionFailedError);
          assert.equal((await store.getUser(t, u.id))?.name, 'a');
          await store.deleteUser(t, u.id, 2);
          assert.equal(await store.getUser(t, u.id), null);
        }));

      it('two writers with the same version: exactly one wins', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1));
          const results = await Promise.allSettled([
            store.updateUser(t, u.id, { name: 'first' }, 1),
            store.updateUser(t, u.id, { name: 'second' }, 1),
          ]);
          assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
          const rejected = results.find((r) => r.status === 'rejected');
          assert.ok(
            rejected?.status === 'rejected' && rejected.reason instanceof PreconditionFailedError,
          );
        }));

      it('100 concurrent read-modify-write loops lose no update', () =>
        withStore(open, async ({ store }) => {
          const t = await newTenant(store);
          const u = await store.createUser(t, newUser(1, { roles: [] }));
          let conflicts = 0;
          const winners: StoredUser[] = [];
          await Promise.all(
            Array.from({ length: 100 }, async (_, i) => {
              for (;;) {
                const current = await store.getUser(t, u.id);
                assert.ok(current !== null);
                try {
                  winners.push(
                    await store.updateUser(
                      t,
                      u.id,
                      { name: `writer ${i}`, roles: [`r${i}`] },
                      current.version,
                    ),
                  );
                  return;
                } catch (err) {
                  if (!(err instanceof PreconditionFailedError)) throw err;
                  conflicts++;
                }
              }
            }),
          );
          const final = await store.getUser(t, u.id);
          assert.equal(winners.length, 100);
          assert.equal(final?.version, 1 + winners.length);
          // Every success produced a distinct version: none overwrote another unseen.
          assert.deepEqual(
            winners.map((w) => w.version).sort((x, y) => x - y),
            Array.from({ length: 100 }, (_, i) => i + 2),
          );
          // The final state is one request's, whole: name and roles from the same writer.
          const n = final?.name.replace('writer ', '');
          assert.deepEqual(final?.roles, [`r${n}`]);
          assert.ok(conflicts > 0, 'the writers did contend');
        }));
    });

    describe('lifecycle', () => {
      it('pings, and closes idempotently', () =>
        withStore(open, async ({ store }) => {
          await store.ping();
          await store.close();
          await store.close();
        }));

      it('keeps data across close and reopen', () =>
        withStore(open, async (opened) => {
          if (opened.reopen === undefined) return;
          const t = await newTenant(opened.store);
          const u = await opened.store.createUser(t, newUser(1));
          const updated = await opened.store.updateUser(t, u.id, { name: 'kept' });
          await opened.store.close();
          const again = await opened.reopen();
          try {
            assert.deepEqual(await again.getUser(t, u.id), updated);
            assert.equal((await again.getTenant(t))?.name, 'Acme');
            await assert.rejects(again.createUser(t, newUser(1)), ConflictError);
          } finally {
            await again.close();
          }
        }));
    });
  });
}
