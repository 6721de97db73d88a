/**
 * Reloading a store's set: one reload at a time, in order. A candidate that does not parse or
 * validate never replaces the live set: the last good one keeps serving, and the problems are
 * logged and kept for /status. A good one is preparsed into the slot not serving, then swapped
 * in with one assignment between two synchronous decisions.
 */
import { readPolicySources, type PolicySources } from '../../policy/policy-files.js';
import { formatProblem, PolicyLoadError } from '../../policy/policy-set.js';
import { checkCanaries } from './canaries.js';
import type { LoadedForStore } from './isolated-engine.js';
import { activate, logWarnings } from './live-set.js';
import type { ReloadResult, StoreState } from './store-state.js';

/** Queues a reload behind the ones before it; `onReload` hears each outcome. Never throws. */
export function reloadInOrder(
  state: StoreState,
  reason: string,
  onReload: ((result: ReloadResult) => void) | undefined,
): Promise<ReloadResult> {
  // One reload at a time, in order: a later trigger sees the files after an earlier one.
  const run = state.chain.then(async () => {
    const result = await reloadNow(state, reason);
    try {
      onReload?.(result);
    } catch (err) {
      state.logger.warn({ err }, 'onReload callback threw');
    }
    return result;
  });
  state.chain = run.catch(() => undefined);
  return run;
}

async function reloadNow(state: StoreState, reason: string): Promise<ReloadResult> {
  const automatic = reason === 'watch' || reason === 'poll';
  let candidateVersion: string | null = null;
  try {
    const sources = await readPolicySources(state.dir);
    candidateVersion = sources.version;
    if (sources.version === state.live.snapshot.version) {
      // The files are the live set again (a broken edit was reverted): a refusal recorded
      // before must not be reported forever, and an operator watching the log is told.
      if (state.lastReload?.ok === false) recover(state, reason);
      return 'unchanged';
    }
    // A broken version already refused and reported: polling it again adds nothing.
    if (automatic && sources.version === state.lastRefusedVersion) return 'unchanged';
    const loaded = await state.load(state.dir, sources);
    await swapIn(state, loaded, sources, reason);
    checkCanaries(state, `reload (${reason})`);
    return 'success';
  } catch (err) {
    refuse(state, err, candidateVersion, reason);
    return 'failure';
  }
}

/** Makes `set` live (it may throw while preparsing, before the swap) and records the reload. */
async function swapIn(
  state: StoreState,
  loaded: LoadedForStore,
  sources: PolicySources,
  reason: string,
): Promise<void> {
  const { logger, slots } = state;
  const { set } = loaded;
  const slot = state.live.slot === slots[0] ? slots[1] : slots[0];
  const next = await activate(state.activation, loaded, slot);
  const live = state.live;
  const retired = live.snapshot.roles.filter((r) => !next.snapshot.roles.includes(r)).sort();
  state.live = next; // the swap: one assignment, between two synchronous decide() calls
  state.liveSources = sources;
  state.cache.clear();
  state.permissionsCache.clear();
  state.lastRefusedVersion = null;
  state.reloads.success++;
  for (const r of retired) state.retiredRoles.add(r);
  for (const r of next.snapshot.roles) state.retiredRoles.delete(r);
  state.lastReload = { at: state.now(), ok: true, reason, problems: [], retiredRoles: retired };
  logWarnings(logger, set);
  const fields = {
    reason,
    version: set.version,
    policies: next.snapshot.policyIds.length,
    roles: next.snapshot.roles,
    retiredRoles: retired,
  };
  // Retiring a role is worth a warning: users who hold it lose whatever it gave them.
  if (retired.length === 0) logger.info(fields, 'policies reloaded');
  else
    logger.warn(
      fields,
      `policies reloaded; roles no longer in the schema: ${retired.join(', ')} (their holders are decided as if they did not hold them)`,
    );
}

/** The files on disk are the live set again after a refusal: /status and the log say so. */
function recover(state: StoreState, reason: string): void {
  const { version } = state.live.snapshot;
  state.lastRefusedVersion = null;
  state.lastReload = { at: state.now(), ok: true, reason, problems: [], retiredRoles: [] };
  state.logger.info(
    { reason, version },
    `policy files are good again: they match the live set ${version}, which kept serving`,
  );
}

/** Records a refused candidate; the live set stays as it was. */
function refuse(
  state: StoreState,
  err: unknown,
  candidateVersion: string | null,
  reason: string,
): void {
  const problems =
    err instanceof PolicyLoadError
      ? err.problems
      : [
          {
            file: state.dir,
            line: 1,
            column: 1,
            message: err instanceof Error ? err.message : String(err),
          },
        ];
  const liveVersion = state.live.snapshot.version;
  state.lastRefusedVersion = candidateVersion;
  state.reloads.failure++;
  state.lastReload = { at: state.now(), ok: false, reason, problems, retiredRoles: [] };
  state.logger.error(
    { reason, problems: problems.map(formatProblem), liveVersion },
    `policy reload refused, still serving ${liveVersion}: ${problems.map(formatProblem).join('; ')}`,
  );
}
