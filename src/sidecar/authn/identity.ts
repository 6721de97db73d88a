/**
 * The sidecar's identity configuration in force: one issuer from JWT_ISSUER and its neighbours,
 * or the issuers of ISSUERS_FILE, hot-reloaded like the policies (a file watch on its directory,
 * so a ConfigMap's symlink swap is seen; a content poll; `reload('SIGHUP')`). A file that does not
 * parse or check is refused: the last good one keeps serving and /status says what broke. SIGHUP
 * also refetches every issuer's keys.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseClaimPath } from '../../common/claim-path.js';
import type { Logger } from '../../common/logger.js';
import type { Config } from '../../config.js';
import { IssuerMismatchError } from './discovery.js';
import {
  createIssuerTrust,
  type IssuerSettings,
  type IssuerStatus,
  type IssuerTrust,
} from './issuers.js';
import { parseIssuersFile } from './issuers-file.js';
import type { KeySource } from './key-source.js';
import { ACCEPTED_ALGORITHMS } from './token-header.js';

/** What /status shows of the identity configuration. */
export interface IdentityStatus {
  /** `env`: JWT_ISSUER and its neighbours; `file`: ISSUERS_FILE. */
  source: 'env' | 'file';
  file: string | null;
  /** The last reload of ISSUERS_FILE that found new content (null until one did). */
  last_reload: { at: string; ok: boolean; reason: string; error: string | null } | null;
  issuers: IssuerStatus[];
}

/** The identity configuration in force. */
export interface Identity {
  trust: IssuerTrust;
  /** Re-reads ISSUERS_FILE (if any) and refetches every key set; never throws. */
  reload(reason: string): Promise<void>;
  status(): IdentityStatus;
  close(): void;
}

export interface IdentityDeps {
  /** Where the single issuer's keys are (parts.ts's keySourceOf); unused with ISSUERS_FILE. */
  keySource: () => KeySource;
  logger: Logger;
  now?: () => number;
  onFetchFailure?: (issuer: string) => void;
  /** Quiet time after the last file event before reloading (default 200 ms). */
  debounceMs?: number;
}

/**
 * Builds the identity configuration of `config` and makes the first fetch of every key set (a
 * bounded wait: one attempt each, within JWKS_TIMEOUT_MS per request). Throws on a broken
 * ISSUERS_FILE or a discovery document of another issuer: the process must not start on either.
 * Key servers that do not answer do not stop the start: the process is not ready until they do.
 */
export async function openIdentity(config: Config, deps: IdentityDeps): Promise<Identity> {
  const now = deps.now ?? Date.now;
  const trustDeps = {
    now,
    logger: deps.logger,
    ...(deps.onFetchFailure !== undefined && { onFetchFailure: deps.onFetchFailure }),
  };
  if (config.issuersFile === undefined) {
    const trust = await createIssuerTrust([singleIssuer(config, deps.keySource())], trustDeps);
    await startTrust(trust, 'JWT_ISSUER');
    return {
      trust,
      reload: (reason) => logRefresh(trust, deps.logger, reason),
      status: () => ({ source: 'env', file: null, last_reload: null, issuers: trust.status() }),
      close: () => trust.close(),
    };
  }
  return openIssuersFile(config, config.issuersFile, trustDeps, deps);
}

function singleIssuer(config: Config, keys: KeySource): IssuerSettings {
  return {
    issuer: config.jwtIssuer,
    audiences: [config.jwtAudience],
    keys,
    typ: config.jwtTyp,
    algorithms: ACCEPTED_ALGORITHMS,
    tenantClaim: parseClaimPath(config.tenantClaim),
    userClaim: parseClaimPath(config.userClaim),
    tenants: '*',
    tenantMap: undefined,
  };
}

/** The first fetch; a mismatched discovery document stops the start with one line naming both. */
async function startTrust(trust: IssuerTrust, variable: string): Promise<void> {
  try {
    await trust.start();
  } catch (err) {
    if (err instanceof IssuerMismatchError) {
      trust.close();
      throw new Error(`${variable}: ${err.message}`);
    }
    throw err;
  }
}

async function logRefresh(trust: IssuerTrust, logger: Logger, reason: string): Promise<void> {
  await trust.refreshKeys();
  logger.info({ reason, issuers: trust.status().map(summary) }, 'key sets refreshed');
}

function summary(s: IssuerStatus): Record<string, unknown> {
  return { issuer: s.issuer, kids: s.kids, last_error: s.last_error };
}

async function openIssuersFile(
  config: Config,
  path: string,
  trustDeps: Parameters<typeof createIssuerTrust>[1],
  deps: IdentityDeps,
): Promise<Identity> {
  const read = issuersFileReader(config, path);
  const first = await read();
  const trust = await createIssuerTrust(first.settings, trustDeps);
  await startTrust(trust, 'ISSUERS_FILE');
  const reloads = createFileReloads(trust, read, first.hash, deps.logger);
  const watching = watchFile(path, reloads.reload, config.policyPollMs, deps.debounceMs ?? 200);
  return {
    trust,
    async reload(reason) {
      await reloads.reload(reason);
      await logRefresh(trust, deps.logger, reason);
    },
    status: () => ({
      source: 'file',
      file: path,
      last_reload: reloads.lastReload(),
      issuers: trust.status(),
    }),
    close() {
      watching.close();
      trust.close();
    },
  };
}

/** ISSUERS_FILE as read once: its content's hash and its issuers, checked. */
interface IssuersFileReading {
  hash: string;
  settings: IssuerSettings[];
}

/** Reads and checks ISSUERS_FILE, its issuers' defaults taken from the environment's. */
function issuersFileReader(config: Config, path: string): () => Promise<IssuersFileReading> {
  const defaults = {
    tenantClaim: config.tenantClaim,
    userClaim: config.userClaim,
    timeoutMs: config.jwksTimeoutMs,
    cooldownMs: config.jwksCooldownMs,
  };
  return async () => {
    const text = await readFile(path, 'utf8').catch((err: unknown) => {
      throw new Error(`ISSUERS_FILE ${path}: cannot be read: ${(err as Error).message}`);
    });
    return { hash: hashOf(text), settings: parseIssuersFile(text, path, defaults) };
  };
}

/** The reloads of ISSUERS_FILE, one at a time, and what the last one that found news said. */
interface FileReloads {
  /** Re-reads the file; never rejects. */
  reload: (reason: string) => Promise<void>;
  lastReload(): IdentityStatus['last_reload'];
}

/**
 * A new good file goes live; a bad one is refused, said once (not at every poll while it stays
 * the same) and kept in /status until a good one, or the live one again, is read.
 */
function createFileReloads(
  trust: IssuerTrust,
  read: () => Promise<IssuersFileReading>,
  firstHash: string,
  logger: Logger,
): FileReloads {
  let liveHash = firstHash;
  let refusedHash: string | undefined;
  let lastReload: IdentityStatus['last_reload'] = null;
  let chain: Promise<void> = Promise.resolve();
  const settled = (reason: string, error: string | null): void => {
    lastReload = { at: new Date().toISOString(), ok: error === null, reason, error };
  };

  const refuse = (reason: string, message: string): void => {
    const hash = hashOf(message);
    if (hash === refusedHash) return;
    refusedHash = hash;
    settled(reason, message);
    logger.error(
      { reason, err: message },
      'ISSUERS_FILE refused; the last good file keeps serving',
    );
  };

  async function reloadFile(reason: string): Promise<void> {
    let next: IssuersFileReading;
    try {
      next = await read();
    } catch (err) {
      return refuse(reason, (err as Error).message);
    }
    if (next.hash === liveHash) {
      // The live file again after a refused one: the refusal is over.
      if (refusedHash !== undefined) settled(reason, null);
      refusedHash = undefined;
      return;
    }
    await trust.replace(next.settings);
    liveHash = next.hash;
    refusedHash = undefined;
    settled(reason, null);
    logger.info({ reason, issuers: next.settings.map((s) => s.issuer) }, 'ISSUERS_FILE reloaded');
  }

  return {
    reload: (reason) => {
      chain = chain.then(() => reloadFile(reason)).catch(() => undefined);
      return chain;
    },
    lastReload: () => lastReload,
  };
}

/**
 * Watches the file's directory (a ConfigMap swaps a `..data` symlink beside it, which a watch on
 * the file itself would miss) and polls its content.
 */
function watchFile(
  path: string,
  reload: (reason: string) => Promise<void>,
  pollMs: number,
  debounceMs: number,
): { close(): void } {
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const name = basename(path);
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name && !file.startsWith('..')) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload('watch'), debounceMs);
      debounce.unref();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // No watch here (some filesystems): the poll still sees every change.
  }
  const poll = pollMs > 0 ? setInterval(() => void reload('poll'), pollMs) : undefined;
  poll?.unref();
  return {
    close() {
      clearTimeout(debounce);
      clearInterval(poll);
      watcher?.close();
    },
  };
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
