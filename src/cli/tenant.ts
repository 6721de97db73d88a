/**
 * `cedargate tenant create --name N --owner-name N --owner-email E`: creates a tenant and its
 * owner (roles ["admin"], is_owner true) in the store of DATA_DIR, and prints
 * `{"tenant":{"id","name"},"owner":<user>}` on stdout. Safe while a server uses the same
 * DATA_DIR: the store waits for the server's write lock.
 */
import { loadConfig } from '../config.js';
import { InvalidInputError } from '../errors.js';
import { OWNER_ROLE, publicUser } from '../common/user.js';
import { validateNewUser, validateTenantName } from '../common/validate.js';
import { openStore } from '../backend/store/index.js';
import { parseFlags, required, UsageError } from './usage.js';

const USAGE = 'cedargate tenant create --name N --owner-name N --owner-email E';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'create') {
    throw new UsageError(
      `${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}\nusage: ${USAGE}`,
    );
  }
  const { values } = parseFlags(
    rest,
    {
      name: { type: 'string' },
      'owner-name': { type: 'string' },
      'owner-email': { type: 'string' },
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

  const store = await openStore(loadConfig('cli'));
  try {
    const created = await store.createTenant(name, owner);
    process.stdout.write(
      `${JSON.stringify({ tenant: created.tenant, owner: publicUser(created.owner) })}\n`,
    );
  } finally {
    await store.close();
  }
  return 0;
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
