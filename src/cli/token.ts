/**
 * `bin/cedargate token --tenant T --sub U [--ttl SECONDS]`: prints one development JWT and a
 * newline, nothing else, so that `TOKEN=$(bin/cedargate token ...)` just works.
 *
 * Subcommands are dispatched on the first positional (`token revoke ...`); add one to
 * `subcommands` below. Without a subcommand the command issues a token.
 */
import { canonicalId, isIdShaped } from '../common/ids.js';
import { loadConfig } from '../config.js';
import { issueDevToken } from '../sidecar/authn/issue-token.js';
import type { Revocation } from '../sidecar/cluster/revocation-mirror.js';
import { isRevocableJti, revokeInRedis } from '../sidecar/cluster/revocations.js';
import { ReplicaUnconfirmedError } from '../common/redis-connection.js';
import {
  HelpRequested,
  helpText,
  parseFlagsOnly,
  required,
  UsageError,
  wantsHelp,
} from './usage.js';

const ISSUE_USAGE = 'cedargate token --tenant TENANT_ID --sub USER_ID [--ttl SECONDS]';
const REVOKE_USAGE =
  'cedargate token revoke --jti JTI [--exp SECONDS] | --sub USER_ID [--tenant TENANT_ID]   (needs REDIS_URL)';

const DEFAULT_TTL_SECONDS = 3600;
/** A development token living longer than a year is a mistake, not a wish. */
const MAX_TTL_SECONDS = 365 * 24 * 3600;

type Subcommand = (args: string[]) => Promise<number>;

/** `token <name> ...` handlers. */
const subcommands: Record<string, Subcommand> = {
  revoke: revokeToken,
};

/** Entry point called by `src/cli/main.ts`. */
export async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  // Own keys only: "toString" names no subcommand.
  const subcommand =
    first !== undefined && Object.hasOwn(subcommands, first) ? subcommands[first] : undefined;
  if (subcommand !== undefined) return subcommand(rest);
  if (wantsHelp(args)) {
    throw new HelpRequested(
      `${helpText(ISSUE_USAGE, ISSUE_FLAGS, 'Prints one development JWT on stdout.')}\nsubcommands:\n  ${REVOKE_USAGE}\n  (run "cedargate token revoke --help" for its flags)\n`,
    );
  }
  return issueToken(args);
}

const ISSUE_FLAGS = {
  tenant: { type: 'string', value: 'TENANT_ID', help: "the token's tenant (tenant_id claim)" },
  sub: { type: 'string', value: 'USER_ID', help: 'the user it names (sub claim)' },
  ttl: { type: 'string', value: 'SECONDS', help: `lifetime, default ${DEFAULT_TTL_SECONDS}` },
} as const;

async function issueToken(args: string[]): Promise<number> {
  const values = parseFlagsOnly(args, ISSUE_FLAGS, ISSUE_USAGE);
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
    userClaim: config.userClaim,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

/**
 * `token revoke --jti J [--exp SECONDS]` or `token revoke --sub U [--tenant T]`: records the
 * revocation in Redis and publishes it, so every sidecar refuses the token(s) with 401 at once.
 * `--sub` revokes every token of the user issued up to now (in one tenant with `--tenant`).
 * A jti entry is kept until `--exp` (the token's `exp` claim; default: as long as the longest
 * token `token` issues), then Redis drops it by itself. Prints what it recorded as one JSON line.
 */
const REVOKE_FLAGS = {
  jti: { type: 'string', value: 'JTI', help: 'revoke the one token with this jti claim' },
  exp: { type: 'string', value: 'SECONDS', help: "with --jti: the token's exp claim" },
  sub: { type: 'string', value: 'USER_ID', help: 'revoke every token of this user issued so far' },
  tenant: { type: 'string', value: 'TENANT_ID', help: 'with --sub: in this tenant only' },
} as const;

async function revokeToken(args: string[]): Promise<number> {
  const values = parseFlagsOnly(args, REVOKE_FLAGS, REVOKE_USAGE);
  const revocation = readRevocation(values, Math.floor(Date.now() / 1000));
  const config = loadConfig('cli');
  if (config.redisUrl === undefined) {
    throw new UsageError(
      `token revoke requires REDIS_URL (revocations are kept in Redis)\nusage: ${REVOKE_USAGE}`,
    );
  }
  try {
    await revokeInRedis(config.redisUrl, revocation, { maxLen: config.eventStreamMaxLen });
  } catch (err) {
    // A person at a terminal needs the cause in one line (main prints it, exit 1), not a stack.
    if (err instanceof ReplicaUnconfirmedError) {
      throw new Error(
        `the revocation is recorded on the Redis primary and in effect, but no replica confirmed it ` +
          `within ${err.waitedMs} ms: a failover now could undo it; run the same command again ` +
          `(recording a revocation twice is harmless)`,
      );
    }
    throw new Error(
      `could not record the revocation: ${err instanceof Error ? err.message : String(err)}; nothing was revoked`,
    );
  }
  const printed =
    revocation.kind === 'jti'
      ? { kind: 'jti', jti: revocation.jti, expires_at: revocation.expiresAt }
      : {
          kind: 'subject',
          sub: revocation.subject,
          tenant: revocation.tenantId ?? null,
          issued_up_to: revocation.cutoff,
        };
  process.stdout.write(`${JSON.stringify({ revoked: printed })}\n`);
  return 0;
}

/** The revocation a `token revoke` command line asks for; `nowSeconds` is the sub cut-off. */
function readRevocation(
  values: {
    jti?: string | boolean;
    exp?: string | boolean;
    sub?: string | boolean;
    tenant?: string | boolean;
  },
  nowSeconds: number,
): Revocation {
  const usage = (problem: string): UsageError =>
    new UsageError(`${problem}\nusage: ${REVOKE_USAGE}`);
  if ((values.jti === undefined) === (values.sub === undefined)) {
    throw usage('give exactly one of --jti or --sub');
  }
  if (typeof values.jti === 'string') {
    if (values.tenant !== undefined) throw usage('--tenant goes with --sub, not --jti');
    if (!isRevocableJti(values.jti)) {
      throw usage(
        `--jti must be 1 to 256 printable characters without spaces, got "${values.jti}"`,
      );
    }
    let exp = nowSeconds + MAX_TTL_SECONDS;
    if (values.exp !== undefined) {
      exp =
        typeof values.exp === 'string' && /^\d{1,12}$/.test(values.exp) ? Number(values.exp) : NaN;
      // A token already expired needs no revocation; a typo here would record nothing useful.
      if (!(exp > nowSeconds)) {
        throw usage(
          `--exp must be the token's exp claim (seconds since the epoch, in the future), got "${String(values.exp)}"`,
        );
      }
    }
    return { kind: 'jti', jti: values.jti, expiresAt: exp };
  }
  if (values.exp !== undefined) throw usage('--exp goes with --jti, not --sub');
  const subject = readId(required(values.sub, 'sub', REVOKE_USAGE), 'sub', REVOKE_USAGE);
  if (values.tenant === undefined) return { kind: 'subject', subject, cutoff: nowSeconds };
  const tenantId = readId(required(values.tenant, 'tenant', REVOKE_USAGE), 'tenant', REVOKE_USAGE);
  return { kind: 'subject', subject, tenantId, cutoff: nowSeconds };
}

/** The id in its canonical (upper-case) form, as `tenant create` prints it. */
function readId(value: string, flag: string, usage = ISSUE_USAGE): string {
  if (!isIdShaped(value)) {
    throw new UsageError(
      `--${flag} must be a UUID-shaped id like 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0, got "${value}"\nusage: ${usage}`,
    );
  }
  return canonicalId(value);
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
