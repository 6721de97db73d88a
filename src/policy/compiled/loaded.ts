/**
 * The compiled decider of a loaded policy set ({@link LoadedPolicySet}): each policy's typed
 * EST read through the Cedar adapter, the schema's typed JSON as parseSchema kept it, places
 * from the set.
 */
import { policyTreesOf } from '../cedar-adapter.js';
import type { PolicyEst } from '../est.js';
import type { LoadedPolicySet } from '../policy-set.js';
import type { AuthzRequest, Decision } from '../types.js';
import { compileDecider, type DeciderAnswer, type DeciderPolicy } from './decider.js';

/**
 * Compiles `set` into plain closures, or says which construct keeps it on Cedar. `fallback`
 * decides the requests the compiled path hands back (the set's wasm-backed `authorize`).
 */
export function compileLoadedDecider(
  set: LoadedPolicySet,
  fallback: (request: AuthzRequest) => Omit<Decision, 'cached'>,
  trees: Readonly<Record<string, PolicyEst>> = policyTreesOf(set.texts),
): DeciderAnswer {
  const policies: Record<string, DeciderPolicy> = {};
  for (const p of set.policies) {
    const est = trees[p.id];
    if (est === undefined) continue;
    policies[p.id] = {
      est,
      meta: { effect: p.effect, notice: p.notice },
      where: `${p.file}:${p.line}`,
    };
  }
  return compileDecider({
    schema: set.schema,
    policies,
    fallback,
  });
}
