/**
 * ISSUERS_FILE: several issuers in one YAML file, each with its own keys, audience, token type,
 * algorithms, claim paths and the tenants it may speak for. Read into checked IssuerSettings;
 * anything unknown or malformed is refused with the issuer's index and the field, so a typo
 * never silently loosens a check.
 *
 * ```yaml
 * issuers:
 *   - issuer: https://login.acme.example/
 *     audience: users-api                # string or list
 *     jwks_url: https://login.acme.example/keys   # optional: discovery when absent
 *     typ: at+jwt                        # optional
 *     algorithms: [RS256]                # optional, asymmetric only
 *     tenant_claim: /org/id              # optional, default TENANT_CLAIM
 *     user_claim: uid                    # optional, default USER_CLAIM
 *     tenants: ["2489E9AD-2EE2-8E00-8EC9-32D5F69181C0"]   # or ["*"]
 *     tenant_map: { org_acme: 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0 }
 * ```
 */
import type { JWSAlgorithm } from 'jose';
import { parse as parseYaml } from 'yaml';
import { parseClaimPath, type ClaimPath } from '../../common/claim-path.js';
import { canonicalId, isIdShaped } from '../../common/ids.js';
import { isHttpUrl } from '../../config.js';
import type { IssuerSettings } from './issuers.js';
import { ACCEPTED_ALGORITHMS } from './token-header.js';

/** What the file's issuers inherit from the environment. */
export interface IssuersFileDefaults {
  tenantClaim: string;
  userClaim: string;
  timeoutMs: number;
  cooldownMs: number;
}

/** A file that cannot be used: `message` names the field. */
export class IssuersFileError extends Error {
  constructor(path: string, problem: string) {
    super(`ISSUERS_FILE ${path}: ${problem}`);
    this.name = 'IssuersFileError';
  }
}

const FIELDS = new Set([
  'issuer',
  'audience',
  'jwks_url',
  'typ',
  'algorithms',
  'tenant_claim',
  'user_claim',
  'tenants',
  'tenant_map',
]);
const ACCEPTED = new Set<string>(ACCEPTED_ALGORITHMS);

/** Parses and checks the file's text; throws IssuersFileError. */
export function parseIssuersFile(
  text: string,
  path: string,
  defaults: IssuersFileDefaults,
): IssuerSettings[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new IssuersFileError(path, `is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObject(doc) || !Array.isArray(doc.issuers) || doc.issuers.length === 0) {
    throw new IssuersFileError(path, 'expected "issuers:" with a list of at least one issuer');
  }
  const extra = Object.keys(doc).filter((k) => k !== 'issuers');
  if (extra.length > 0) throw new IssuersFileError(path, `unknown top-level key "${extra[0]}"`);
  const seen = new Set<string>();
  return doc.issuers.map((entry: unknown, i: number) => {
    const at = `issuers[${i}]`;
    try {
      const settings = readIssuer(entry, defaults);
      if (seen.has(settings.issuer))
        throw new Error(`: issuer "${settings.issuer}" is listed twice`);
      seen.add(settings.issuer);
      return settings;
    } catch (err) {
      throw new IssuersFileError(path, `${at}${(err as Error).message}`);
    }
  });
}

function readIssuer(entry: unknown, defaults: IssuersFileDefaults): IssuerSettings {
  if (!isObject(entry)) throw new Error(': is not a mapping');
  const unknown = Object.keys(entry).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) throw new Error(`: unknown field "${unknown}"`);
  const issuer = requiredString(entry, 'issuer');
  const jwksUrl = optionalString(entry, 'jwks_url');
  if (jwksUrl !== undefined && !isHttpUrl(jwksUrl))
    throw new Error('.jwks_url: is not an http(s) URL');
  if (jwksUrl === undefined && !isHttpUrl(issuer)) {
    throw new Error(
      `.issuer: "${issuer}" is not an http(s) URL to discover keys from; give jwks_url`,
    );
  }
  const remote = { timeoutMs: defaults.timeoutMs, cooldownMs: defaults.cooldownMs };
  return {
    issuer,
    audiences: audiences(entry.audience),
    keys:
      jwksUrl === undefined
        ? { kind: 'discovery', issuer, ...remote }
        : { kind: 'url', url: jwksUrl, issuer, ...remote },
    typ: typOf(entry),
    algorithms: algorithms(entry.algorithms),
    tenantClaim: claim(entry, 'tenant_claim', defaults.tenantClaim),
    userClaim: claim(entry, 'user_claim', defaults.userClaim),
    tenants: tenants(entry.tenants),
    tenantMap: tenantMap(entry.tenant_map),
  };
}

function audiences(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every(isNonEmptyString)) {
    throw new Error('.audience: must be a string or a list of strings');
  }
  return list;
}

function typOf(entry: Record<string, unknown>): string | undefined {
  const typ = optionalString(entry, 'typ');
  if (typ !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.+/-]{0,63}$/.test(typ)) {
    throw new Error(`.typ: "${typ}" is not a token type (example: at+jwt)`);
  }
  return typ;
}

function algorithms(value: unknown): readonly JWSAlgorithm[] {
  if (value === undefined) return ACCEPTED_ALGORITHMS;
  if (!Array.isArray(value) || value.length === 0 || !value.every(isNonEmptyString)) {
    throw new Error('.algorithms: must be a list of algorithm names (example: [RS256, ES256])');
  }
  const refused = value.find((alg) => !ACCEPTED.has(alg));
  if (refused !== undefined) {
    throw new Error(
      `.algorithms: "${refused}" is not accepted (asymmetric only: ${ACCEPTED_ALGORITHMS.join(', ')})`,
    );
  }
  return value;
}

function claim(entry: Record<string, unknown>, field: string, dflt: string): ClaimPath {
  const spec = optionalString(entry, field) ?? dflt;
  try {
    return parseClaimPath(spec);
  } catch (err) {
    throw new Error(`.${field}: is not a claim name or a JSON Pointer: ${(err as Error).message}`);
  }
}

function tenants(value: unknown): '*' | ReadonlySet<string> {
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error('.tenants: must list the tenant ids it may speak for, or ["*"] for any');
  }
  if (value.length === 1 && value[0] === '*') return '*';
  return new Set(value.map((t, i) => tenantId(t, `.tenants[${i}]`)));
}

function tenantMap(value: unknown): ReadonlyMap<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.keys(value).length === 0) {
    throw new Error('.tenant_map: must map claim values to tenant ids');
  }
  return new Map(Object.entries(value).map(([k, v]) => [k, tenantId(v, `.tenant_map.${k}`)]));
}

function tenantId(value: unknown, at: string): string {
  if (typeof value !== 'string' || !isIdShaped(value)) {
    throw new Error(`${at}: is not a tenant id (example: 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0)`);
  }
  return canonicalId(value);
}

function requiredString(entry: Record<string, unknown>, field: string): string {
  const v = optionalString(entry, field);
  if (v === undefined) throw new Error(`.${field}: is required`);
  return v;
}

function optionalString(entry: Record<string, unknown>, field: string): string | undefined {
  const v = entry[field];
  if (v === undefined || v === null) return undefined;
  if (!isNonEmptyString(v)) throw new Error(`.${field}: must be a non-empty string`);
  return v;
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
