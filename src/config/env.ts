/**
 * The parsers every part of the configuration reads the environment with: each turns one
 * variable into a typed value or a ConfigError naming it with an example.
 */
import { isIP } from 'node:net';

/** A misconfiguration: names the variable and shows an example. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
    example: string,
  ) {
    super(`${variable}: ${problem} (example: ${variable}=${example})`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The process kind a configuration is read for (`cli`: a one-shot command). */
export type Mode = 'start' | 'sidecar' | 'backend' | 'cli';

export function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function int(
  env: Env,
  name: string,
  dflt: number,
  min: number,
  max: number,
  example: string,
): number {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw))
    throw new ConfigError(name, `must be a whole number, got "${raw}"`, example);
  const n = Number(raw);
  if (n < min || n > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`, example);
  return n;
}

/** One line of text shown to clients: at most `max` characters, no control characters. */
export function line(env: Env, name: string, dflt: string, max: number, example: string): string {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw))
    throw new ConfigError(name, 'must be one line of text, without control characters', example);
  if (raw.length > max)
    throw new ConfigError(name, `must be at most ${max} characters, got ${raw.length}`, example);
  return raw;
}

/** A share between 0 and 1 (a decimal such as 0.001). */
export function fraction(env: Env, name: string, dflt: number, example: string): number {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw))
    throw new ConfigError(name, `must be a number from 0 to 1, got "${raw}"`, example);
  return Number(raw);
}

/** A timeout that must not outlast REQUEST_TIMEOUT_MS (node's own 408 would come first). */
export function atMostRequestTimeout(
  name: string,
  valueMs: number,
  requestTimeoutMs: number,
  exampleMs: number,
): void {
  if (valueMs <= requestTimeoutMs) return;
  throw new ConfigError(
    name,
    `must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`,
    String(Math.min(exampleMs, requestTimeoutMs)),
  );
}

export function port(env: Env, name: string, dflt: number): number {
  return int(env, name, dflt, 0, 65535, String(dflt || 8080));
}

export function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  const v = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`, String(dflt));
}

export function url(
  env: Env,
  name: string,
  protocols: string[],
  example: string,
  why?: string,
): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `is not a URL: "${raw}"`, example);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(
      name,
      `must use ${protocols.join(' or ')}, got "${parsed.protocol}"${why === undefined ? '' : `: ${why}`}`,
      example,
    );
  }
  return raw;
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;

/** An address to listen on: an IP literal or a host name, without a scheme or a port. */
export function listenHost(env: Env, name: string, dflt: string): string {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  if (isIP(raw) === 0 && !HOSTNAME.test(raw)) {
    throw new ConfigError(name, `must be an IP address or a host name, got "${raw}"`, dflt);
  }
  return raw;
}

/** An http(s) URL: an issuer whose discovery document can be read. */
export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}
