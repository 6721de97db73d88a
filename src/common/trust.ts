/**
 * The backend answers only the sidecar: every request must carry the shared secret in
 * {@link TRUST_HEADER}. The secret comes from `TRUST_SECRET` (a Kubernetes Secret shared by
 * both containers) or, for one process or one host, from `DATA_DIR/trust-secret`, created on
 * first use.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UnauthenticatedError } from '../errors.js';

// Re-exported where the trust check lives, for the callers that import it from here.
export { TRUST_HEADER } from './headers.js';
export const TRUST_SECRET_FILE = 'trust-secret';

/**
 * The shared secret: `config.trustSecret` when set, else the contents of
 * `DATA_DIR/trust-secret`, creating it (32 random bytes, hex, mode 0600) when missing.
 * Creation writes a private temp file and `link`s it into place, which fails if the file
 * appeared meanwhile; so two processes starting together on a fresh DATA_DIR end up with the
 * same secret, and no reader ever sees a half-written file.
 */
export function resolveTrustSecret(config: Pick<Config, 'trustSecret' | 'dataDir'>): string {
  if (config.trustSecret !== undefined) return config.trustSecret;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const path = join(config.dataDir, TRUST_SECRET_FILE);
  const existing = readSecretFile(path);
  if (existing !== undefined) return existing;

  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process won the race: its secret is the one.
  } finally {
    unlinkSync(temp);
  }
  const secret = readSecretFile(path);
  if (secret === undefined) throw new Error(`${path}: could not be created`);
  return secret;
}

function readSecretFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const secret = text.trim();
  if (secret.length < 16) {
    throw new Error(
      `${path}: the trust secret is shorter than 16 characters; delete the file to regenerate it`,
    );
  }
  return secret;
}

/**
 * Whether a request's trust header carries the secret. Compares digests in constant time, so
 * neither the secret's content nor its length leaks through timing. Repeated headers never
 * match.
 */
export function isTrusted(headerValue: string | string[] | undefined, secret: string): boolean {
  if (typeof headerValue !== 'string') return false;
  const given = createHash('sha256').update(headerValue).digest();
  const wanted = createHash('sha256').update(secret).digest();
  return timingSafeEqual(given, wanted);
}

/** 401 for a request that did not come through the sidecar. */
export class UntrustedRequestError extends UnauthenticatedError {
  constructor() {
    super('missing or wrong trust header');
    // The generic credential message would mislead: there is no credential to fix here.
    this.message = 'requests must come through the cedargate sidecar';
  }
}

/** Throws UntrustedRequestError (401 `unauthenticated`) unless {@link isTrusted}. */
export function assertTrusted(headerValue: string | string[] | undefined, secret: string): void {
  if (!isTrusted(headerValue, secret)) throw new UntrustedRequestError();
}
