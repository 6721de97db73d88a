/**
 * One set per list of roles that never changes once made (a schema's `Role` enum): the set
 * lives as long as its list. Checks that run at every decision, or 20-odd times in one
 * permissions answer, read it instead of building their own.
 */
const sets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** The set of `list`, made once per list. The list must not change afterwards. */
export function roleSetOf(list: readonly string[]): ReadonlySet<string> {
  let set = sets.get(list);
  if (set === undefined) {
    set = new Set(list);
    sets.set(list, set);
  }
  return set;
}
