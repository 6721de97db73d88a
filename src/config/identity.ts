/** The variables of who may call: issuers, their keys, the claims a principal is read from. */
import { parseClaimPath } from '../common/claim-path.js';
import { ConfigError, isHttpUrl, str, url, type Env, type Mode } from './env.js';

/** Who issues the tokens the sidecar accepts, and where their keys are. */
export interface IssuerConfig {
  jwksUrl: string | undefined;
  /** JWKS_FILE, resolved by the caller. */
  jwksFile: string | undefined;
  /** JWT_ISSUER, undefined when unset. */
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  jwtTyp: string | undefined;
  issuersFile: string | undefined;
}

/**
 * The single issuer's variables, or ISSUERS_FILE instead of them. The sidecar refuses to start
 * without a required issuer, audience and key source (`start` has the development ones).
 */
export function issuerConfig(mode: Mode, env: Env): IssuerConfig {
  const jwksUrl = url(
    env,
    'JWKS_URL',
    ['http:', 'https:'],
    'https://issuer.example.com/.well-known/jwks.json',
  );
  const jwksFile = str(env, 'JWKS_FILE');
  if (jwksUrl !== undefined && jwksFile !== undefined) {
    throw new ConfigError(
      'JWKS_FILE',
      'set JWKS_URL or JWKS_FILE, not both',
      '/etc/cedargate/jwks.json',
    );
  }
  const issuer: IssuerConfig = {
    jwksUrl,
    jwksFile,
    jwtIssuer: str(env, 'JWT_ISSUER'),
    jwtAudience: str(env, 'JWT_AUDIENCE'),
    jwtTyp: typ(env, 'JWT_TYP'),
    issuersFile: str(env, 'ISSUERS_FILE'),
  };
  if (issuer.issuersFile !== undefined) exclusiveWithIssuersFile(env);
  else if (mode === 'sidecar') requireSingleIssuer(issuer);
  return issuer;
}

/** What the sidecar cannot verify a token without, when no ISSUERS_FILE names it. */
function requireSingleIssuer({ jwtIssuer, jwtAudience, jwksUrl, jwksFile }: IssuerConfig): void {
  if (jwtIssuer === undefined)
    throw new ConfigError(
      'JWT_ISSUER',
      'the sidecar needs the required issuer (or ISSUERS_FILE)',
      'https://issuer.example.com/',
    );
  if (jwtAudience === undefined)
    throw new ConfigError('JWT_AUDIENCE', 'the sidecar needs the required audience', 'users-api');
  if (jwksUrl === undefined && jwksFile === undefined && !isHttpUrl(jwtIssuer)) {
    throw new ConfigError(
      'JWKS_URL',
      `the sidecar needs JWKS_URL or JWKS_FILE, or a JWT_ISSUER URL to discover them from (got "${jwtIssuer}")`,
      'https://issuer.example.com/.well-known/jwks.json',
    );
  }
}

/** The single-issuer variables ISSUERS_FILE replaces: naming both is a start error. */
const SINGLE_ISSUER_VARIABLES = ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWKS_URL', 'JWKS_FILE', 'JWT_TYP'];

function exclusiveWithIssuersFile(env: Env): void {
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
