/**
 * Which role sets' membership of a role the atoms of a policy set (atoms.ts) can tell: what the
 * role quotient (enumerate.ts) needs to enumerate each role only up to what the policies can
 * tell apart. Read from the typed EST (est.ts).
 */
import type { Expr, PolicyEst } from '../est.js';
import { subExpressionsOf } from '../est.js';
import type { ParsedSchema } from '../types.js';

/**
 * For each role, the role sets (`principal`, `resource`, or a context attribute's name) whose
 * membership of that role some atom can tell; and the sets every role's membership counts for
 * (`isEmpty()`, set equality, `containsAll` of a request set, a `contains` of a non-literal).
 */
export interface RoleRelevance {
  perRole: Record<string, string[]>;
  allRoles: string[];
}

/**
 * Where the atoms of `trees` read role sets, or why that cannot be said exactly: any read of a
 * role set other than a direct operand of `contains`, `containsAny`, `containsAll`, `isEmpty`,
 * `==` or `!=` (an `if` choosing a set, a literal user's roles) refuses.
 */
export function roleRelevanceOf(
  trees: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
): { ok: true; relevance: RoleRelevance } | { ok: false; reason: string } {
  const scan = new RoleSetScan(roleSetsOf(schema), schema.types.role);
  for (const [id, est] of Object.entries(trees)) {
    for (const c of est.conditions) scan.expr(c.body);
    if (scan.refusal !== null) return { ok: false, reason: `policy ${id} ${scan.refusal}` };
  }
  return { ok: true, relevance: scan.relevance() };
}

/** The context attributes, of any action, that are sets of roles. */
export function roleSetsOf(schema: ParsedSchema): Set<string> {
  const out = new Set<string>();
  for (const attrs of Object.values(schema.entityAttributes))
    for (const [name, kind] of Object.entries(attrs))
      if (kind.kind === 'entitySet' && kind.type === schema.types.role) out.add(name);
  return out;
}

/** `principal.roles`, `resource.roles` or a context role set (of `roleSets`), by name; else null. */
export function roleSetPathOf(e: Expr, roleSets: ReadonlySet<string>): string | null {
  if (e.op !== '.' || e.left.op !== 'var') return null;
  const v = e.left.name;
  if ((v === 'principal' || v === 'resource') && e.attr === 'roles') return v;
  if (v === 'context' && roleSets.has(e.attr)) return e.attr;
  return null;
}

/** Walks expressions, noting each read of a role set, until one it cannot follow. */
class RoleSetScan {
  refusal: string | null = null;
  private readonly perRole = new Map<string, Set<string>>();
  private readonly allRoles = new Set<string>();

  constructor(
    private readonly roleSets: ReadonlySet<string>,
    private readonly roleType: string,
  ) {}

  expr(e: Expr): void {
    if (this.refusal !== null) return;
    if (this.pathOf(e) !== null) {
      this.refusal = `reads a role set where the role quotient cannot follow it`;
      return;
    }
    if (e.op === 'contains' || e.op === 'containsAny' || e.op === 'containsAll') {
      this.membership(e.left, e.right);
      return;
    }
    if (e.op === 'isEmpty') {
      const p = this.pathOf(e.arg);
      if (p !== null) {
        this.allRoles.add(p);
        return;
      }
    }
    if (e.op === '==' || e.op === '!=') {
      this.operands(e.left, e.right);
      return;
    }
    for (const x of subExpressionsOf(e)) this.expr(x);
  }

  relevance(): RoleRelevance {
    return {
      perRole: Object.fromEntries([...this.perRole].map(([r, s]) => [r, [...s].sort()])),
      allRoles: [...this.allRoles].sort(),
    };
  }

  /** `left.contains(right)` and its kin. */
  private membership(left: Expr, right: Expr): void {
    const set = this.pathOf(left);
    const lits = this.literalRoles(right);
    if (set !== null && this.pathOf(right) === null && lits !== null) {
      // contains/containsAny/containsAll of literals: only those roles' membership counts.
      for (const r of lits) this.relevant(r, set);
      return;
    }
    this.operands(left, right);
  }

  /** Each operand that is a role set counts for every role; any other is walked. */
  private operands(left: Expr, right: Expr): void {
    for (const x of [left, right]) {
      const p = this.pathOf(x);
      if (p !== null) this.allRoles.add(p);
    }
    for (const x of [left, right]) if (this.pathOf(x) === null) this.expr(x);
  }

  private relevant(role: string, path: string): void {
    let s = this.perRole.get(role);
    if (s === undefined) this.perRole.set(role, (s = new Set()));
    s.add(path);
  }

  private pathOf(e: Expr): string | null {
    return roleSetPathOf(e, this.roleSets);
  }

  /** A role literal or a set literal of roles, as ids; else null. */
  private literalRoles(e: Expr): string[] | null {
    const one = (x: Expr): string | null =>
      x.op === 'value' && x.value.kind === 'entity' && x.value.entity.type === this.roleType
        ? x.value.entity.id
        : null;
    const single = one(e);
    if (single !== null) return [single];
    if (e.op !== 'set') return null;
    const ids = e.elements.map(one);
    return ids.every((x): x is string => x !== null) ? ids : null;
  }
}
