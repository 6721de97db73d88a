/** The variables of who may call: issuers, their keys, the claims a principal is read from. */
import { parseClaimPath } from '../common/claim-path.js';
import { ConfigError, str, type Env } from './env.js';

/** The single-issuer variables ISSUERS_FILE replaces: naming both is a start error. */
const SINGLE_ISSUER_VARIABLES = ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWKS_URL', 'JWKS_FILE', 'JWT_TYP'];

export function exclusiveWithIssuersFile(env: Env): void {
  const both = SINGLE_ISSUER_VARIABLES.filter((name) => str(env, name) !== undefined);
  if (both.length === 0) return;
  throw new ConfigError(
    'ISSUERS_FILE',
    `is set and so is ${both.join(', ')}; set ISSUERS_FILE or the single-issuer variables, not both (each issuer's settings go in the file)`,
    '/etc/cedargate/issuers.yaml',
  );
}

/** A claim name or an RFC 6901 JSON Pointer (common/claim-path.ts). */
export function claimPath(env: Env, name: string, dflt: string, example: string): string {
  const raw = str(env, name) ?? dflt;
  try {
    return parseClaimPath(raw).spec;
  } catch (err) {
    throw new ConfigError(
      name,
      `is not a claim name or a JSON Pointer: ${(err as Error).message}`,
      example,
    );
  }
}

/** JWT_TYP: a media type as `typ` carries it (`at+jwt`, `application/at+jwt`). */
export function typ(env: Env, name: string): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9.+/-]{0,63}$/.test(raw)) {
    throw new ConfigError(name, `is not a token type: "${raw}"`, 'at+jwt');
  }
  return raw;
}
