/**
 * `bin/cedargate token --tenant T --sub U [--ttl SECONDS]`: prints one development JWT and a
 * newline, nothing else, so that `TOKEN=$(bin/cedargate token ...)` just works.
 *
 * Subcommands are dispatched on the first positional (`token revoke ...`); add one to
 * `subcommands` below. Without a subcommand the command issues a token.
 */
import { isIdShaped } from '../common/ids.js';
import { loadConfig } from '../config.js';
import { issueDevToken } from '../sidecar/authn/issue-token.js';
import { parseFlags, required, UsageError } from './usage.js';

const ISSUE_USAGE = 'cedargate token --tenant TENANT_ID --sub USER_ID [--ttl SECONDS]';
const REVOKE_USAGE = 'cedargate token revoke ...';

const DEFAULT_TTL_SECONDS = 3600;
/** A development token living longer than a year is a mistake, not a wish. */
const MAX_TTL_SECONDS = 365 * 24 * 3600;

type Subcommand = (args: string[]) => Promise<number>;

/** `token <name> ...` handlers. The Redis issue fills in `revoke`. */
const subcommands: Record<string, Subcommand> = {
  revoke: revokeToken,
};

/** Entry point called by `src/cli/main.ts`. */
export async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const subcommand = first === undefined ? undefined : subcommands[first];
  if (subcommand !== undefined) return subcommand(rest);
  return issueToken(args);
}

async function issueToken(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      tenant: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string' },
    },
    ISSUE_USAGE,
    true,
  );
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${ISSUE_USAGE}`);
  }
  const tenant = readId(required(values.tenant, 'tenant', ISSUE_USAGE), 'tenant');
  const sub = readId(required(values.sub, 'sub', ISSUE_USAGE), 'sub');
  const ttlSeconds = values.ttl === undefined ? DEFAULT_TTL_SECONDS : readTtl(values.ttl);
  const config = loadConfig('cli');
  const token = await issueDevToken(config.dataDir, {
    tenant,
    sub,
    ttlSeconds,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    tenantClaim: config.tenantClaim,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

/**
 * Revocation lives in Redis (the Redis issue). Until that lands this answers with what it needs,
 * so scripts fail loudly instead of believing a token was revoked.
 */
async function revokeToken(_args: string[]): Promise<number> {
  const config = loadConfig('cli');
  if (config.redisUrl === undefined) {
    throw new UsageError(
      `token revoke requires REDIS_URL (revocation is kept in Redis)\nusage: ${REVOKE_USAGE}`,
    );
  }
  throw new UsageError(`token revoke is not available in this build yet\nusage: ${REVOKE_USAGE}`);
}

/** The id in its canonical (upper-case) form, as `tenant create` prints it. */
function readId(value: string, flag: string): string {
  if (!isIdShaped(value)) {
    throw new UsageError(
      `--${flag} must be a UUID-shaped id like 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0, got "${value}"\nusage: ${ISSUE_USAGE}`,
    );
  }
  return value.toUpperCase();
}

function readTtl(value: string): number {
  const seconds = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_TTL_SECONDS)) {
    throw new UsageError(
      `--ttl must be a whole number of seconds between 1 and ${MAX_TTL_SECONDS}, got "${value}"\nusage: ${ISSUE_USAGE}`,
    );
  }
  return seconds;
}
