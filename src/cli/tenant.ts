/**
 * `cedargate tenant create --name N --owner-name N --owner-email E [--id UUID]`: creates a tenant
 * and its owner (roles ["admin"], is_owner true) in the store of DATA_DIR, and prints
 * `{"tenant":{"id","name"},"owner":<user>}` on stdout. `--id` gives the tenant an id it already
 * has elsewhere (an identity provider's tenant GUID); a taken id is one line on stderr, exit 1,
 * and writes nothing; a malformed one is one line, exit 2. Safe while a server uses the same
 * DATA_DIR: the store waits for the server's write lock. `cedargate tenant list` prints every
 * tenant as JSON lines.
 */
import { loadConfig } from '../config.js';
import { ConflictError, InvalidInputError, UnavailableError } from '../errors.js';
import { OWNER_ROLE, publicUser } from '../common/user.js';
import { validateNewUser, validateTenantName } from '../common/validate.js';
import { openStore } from '../backend/store/index.js';
import { newTenantIdFor } from '../backend/store/store.js';
import {
  HelpRequested,
  InputError,
  parseFlags,
  parseFlagsOnly,
  required,
  subcommandsHelp,
  UsageError,
  wantsHelp,
} from './usage.js';

const USAGE = 'cedargate tenant create --name N --owner-name N --owner-email E [--id UUID]';
const LIST_USAGE = 'cedargate tenant list   (one JSON line {"id","name"} per tenant, oldest first)';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== undefined && wantsHelp([sub]))
    throw new HelpRequested(subcommandsHelp('tenant', [USAGE, LIST_USAGE]));
  if (sub === 'list') return listTenants(rest);
  if (sub !== 'create') {
    throw new UsageError(
      `${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}\nusage: ${USAGE}\n       ${LIST_USAGE}`,
    );
  }
  const { values } = parseFlags(
    rest,
    {
      name: { type: 'string', value: 'N', help: "the tenant's name" },
      'owner-name': { type: 'string', value: 'N', help: "the owner's name" },
      'owner-email': { type: 'string', value: 'E', help: "the owner's email" },
      id: {
        type: 'string',
        value: 'UUID',
        help: "the tenant's id, e.g. an Entra tid (default: a new random one); taken: exit 1",
      },
    },
    USAGE,
  );
  const name = asUsageError('--name', () =>
    validateTenantName(required(values.name, 'name', USAGE)),
  );
  const owner = asUsageError('--owner-name/--owner-email', () =>
    validateNewUser({
      name: required(values['owner-name'], 'owner-name', USAGE),
      email: required(values['owner-email'], 'owner-email', USAGE),
      roles: [OWNER_ROLE],
    }),
  );
  const id = values.id === undefined ? undefined : checkedId(values.id);

  const store = await openStore(loadConfig('cli'), undefined, { waitForLocks: true });
  try {
    const created = await store.createTenant(name, owner, { id }).catch((err: unknown) => {
      // 409's words, on one line (exit 1): the id is taken, nothing was written.
      if (err instanceof ConflictError) throw new Error(`${err.code}: ${err.message}`);
      // Not the same request again blindly: without --id each run makes a new tenant (with --id a
      // second run answers the conflict above if the first one held).
      if (err instanceof UnavailableError && err.details?.['may_have_been_applied'] === true) {
        throw new Error(
          `${err.message}; run "cedargate tenant list" to see whether it was created before running this again`,
        );
      }
      throw err;
    });
    process.stdout.write(
      `${JSON.stringify({ tenant: created.tenant, owner: publicUser(created.owner) })}\n`,
    );
  } finally {
    await store.close();
  }
  return 0;
}

/**
 * `tenant list`: every tenant of the store as JSON lines (`{"id","name"}`), so that
 * `cedargate tenant list | jq -r .id` and a line-by-line `grep` both work on any number of them.
 */
async function listTenants(args: string[]): Promise<number> {
  parseFlagsOnly(args, {}, LIST_USAGE);
  const store = await openStore(loadConfig('cli'), undefined, { waitForLocks: true });
  try {
    for (const t of await store.listTenants()) {
      process.stdout.write(`${JSON.stringify({ id: t.id, name: t.name })}\n`);
    }
  } finally {
    await store.close();
  }
  return 0;
}

/** `--id`, canonical; a malformed or reserved one is one line naming the flag (exit 2). */
function checkedId(raw: string): string {
  try {
    return newTenantIdFor({ id: raw });
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    throw new InputError(`--id: ${err.message}, e.g. 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0`);
  }
}

/** A bad flag value is a usage error (exit 2), named by its flag. */
function asUsageError<T>(flags: string, validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    const field = err.details?.['field'];
    const flag =
      flags === '--name'
        ? flags
        : field === 'email'
          ? '--owner-email'
          : field === 'name'
            ? '--owner-name'
            : flags;
    throw new UsageError(`${flag}: ${err.message}\nusage: ${USAGE}`);
  }
}
