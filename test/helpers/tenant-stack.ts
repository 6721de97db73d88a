/**
 * The setup most sidecar suites share, in one copy: a whole stack (./stack.ts), a tenant made by
 * the real `tenant create` command, its owner's token, and users the owner creates through the
 * API, each with a token of its own.
 */
import type { User } from '../../src/common/user.js';
import { startStack, type Stack, type StartStackOptions } from './stack.js';

/** A user of a tenant with a development token of its own. */
export interface Member {
  user: User;
  token: string;
}

/** `[name, roles]` of a user to create. */
export type UserSpec = readonly [name: string, roles: readonly string[]];

/** One `Member` for each `UserSpec`, position by position. */
export type Members<S extends readonly UserSpec[]> = { -readonly [K in keyof S]: Member };

/** One tenant of a stack, its owner and the owner's token. */
export interface Tenant {
  tenantId: string;
  owner: User;
  ownerToken: string;
  /** A user created by the owner through the API (a real POST), with a token of its own. */
  member(name: string, roles: readonly string[]): Promise<Member>;
  /** `member` for each of `users`, one after the other, in the order given. */
  seed<const S extends readonly UserSpec[]>(...users: S): Promise<Members<S>>;
}

/** A stack with one tenant made already. */
export interface TenantStack extends Tenant {
  stack: Stack;
}

/** A tenant named `name` on `stack` (the `tenant create` command), with its owner's token. */
export async function openTenant(stack: Stack, name: string): Promise<Tenant> {
  const { tenantId, owner } = await stack.createTenant(name);
  const ownerToken = await stack.token(tenantId, owner.id);
  const member = async (userName: string, roles: readonly string[]): Promise<Member> => {
    const user = await stack.createUser(tenantId, ownerToken, userName, [...roles]);
    return { user, token: await stack.token(tenantId, user.id) };
  };
  async function seed<const S extends readonly UserSpec[]>(...users: S): Promise<Members<S>> {
    const members: Member[] = [];
    for (const [userName, roles] of users) members.push(await member(userName, roles));
    return members as Members<S>;
  }
  return { tenantId, owner, ownerToken, member, seed };
}

/**
 * `startStack(options)` and a tenant named `tenant` on it. The stack is the caller's to stop; if
 * the tenant cannot be made, it is stopped here, before the error is thrown.
 */
export async function startTenantStack(
  tenant: string,
  options: StartStackOptions = {},
): Promise<TenantStack> {
  const stack = await startStack(options);
  try {
    return { stack, ...(await openTenant(stack, tenant)) };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
