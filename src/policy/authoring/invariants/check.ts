/**
 * `policy check`: every state a tenant of N users can reach by requests the policies allow and
 * the backend accepts, and whether the invariants hold in all of them (docs/policies.md,
 * "Invariants: what a sequence of requests can reach").
 */
import { abstractionRefusal, collectLiterals } from '../../request-abstraction.js';
import type { LoadedPolicySet } from '../../policy-set.js';
import { counterexampleOf } from './counterexample.js';
import type { Counterexample } from './counterexample.js';
import { memoDecider } from './decisions.js';
import type { Decide } from './decisions.js';
import { exploreAll } from './explore.js';
import { InvariantFileError } from './language.js';
import type { InvariantSpec } from './language.js';
import { idsAvoiding, startStates } from './tenant-model.js';
import type { TenantModel } from './tenant-model.js';

/** The default tenant size, the owner counted, and the largest `--users` takes. */
export const DEFAULT_USERS = 4;
export const MAX_USERS = 6;
/** Role sets are bit masks, and 2^roles of them are tried per target: more would not finish. */
export const MAX_ROLES = 12;

/** The role the backend never lets the owner lose (backend/app.ts, `owner_is_admin`). */
const OWNER_ROLE = 'admin';

/** The update context's booleans a rename or an avatar change sets. */
const RENAME_FLAGS = ['nameChanges', 'avatarChanges'];

/** A policy set the model cannot stand for (its schema has attributes the states do not hold). */
export class CheckRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckRefusedError';
  }
}

/** One invariant's outcome. */
export interface InvariantResult {
  id: string;
  line: number;
  holds: boolean;
  counterexample: Counterexample | null;
}

/** What `policy check` found. */
export interface CheckReport {
  invariantsFile: string;
  users: number;
  roles: string[];
  /** Start states, up to renaming. */
  starts: number;
  /** States reached (the start states counted), up to renaming. */
  states: number;
  /** Allowed, accepted requests explored (transitions). */
  requests: number;
  /** Distinct requests the decider was asked. */
  decided: number;
  invariants: InvariantResult[];
}

/** Options of {@link checkInvariants}. */
export interface CheckOptions {
  /** Users of the tenant, the owner counted (1 to {@link MAX_USERS}). */
  users?: number;
  tenantId?: string;
}

/**
 * Explores `set` with `decide` (its compiled `authorize`, or another decider of the same set)
 * and checks `spec`. Throws {@link CheckRefusedError} for a schema the states cannot model and
 * {@link InvariantFileError} for a start state larger than the tenant.
 */
export function checkInvariants(
  set: LoadedPolicySet,
  spec: InvariantSpec,
  decide: Decide,
  options: CheckOptions = {},
): CheckReport {
  const model = modelOf(set, spec, options.users ?? DEFAULT_USERS);
  if (spec.start !== null && spec.start.others.length > model.users - 1) {
    throw new InvariantFileError(
      spec.file,
      spec.startLine,
      `start lists ${spec.start.others.length} users besides the owner; --users ${model.users} allows ${model.users - 1}`,
    );
  }
  const decider = memoDecider(model, options.tenantId ?? 'tenant', decide);
  const starts = startStates(model, spec.start);
  const found = exploreAll(model, starts, spec.invariants, decider);
  const invariants = spec.invariants.map((inv): InvariantResult => {
    const v = found.violations.get(inv.id);
    return {
      id: inv.id,
      line: inv.line,
      holds: v === undefined,
      counterexample: v === undefined ? null : counterexampleOf(model, inv, v, decider),
    };
  });
  return {
    invariantsFile: spec.file,
    users: model.users,
    roles: [...model.roles],
    starts: starts.length,
    states: found.states,
    requests: found.requests,
    decided: decider.decided,
    invariants,
  };
}

/** The tenant model of `set`; throws {@link CheckRefusedError}. */
export function modelOf(set: LoadedPolicySet, spec: InvariantSpec, users: number): TenantModel {
  if (!Number.isInteger(users) || users < 1 || users > MAX_USERS) {
    throw new CheckRefusedError(
      `--users must be a whole number from 1 to ${MAX_USERS}, not ${users}`,
    );
  }
  if (set.schema.roles.length > MAX_ROLES) {
    throw new CheckRefusedError(
      `the schema names ${set.schema.roles.length} roles; policy check explores at most ${MAX_ROLES}`,
    );
  }
  const refusal = abstractionRefusal(set.schema);
  if (refusal !== null) {
    throw new CheckRefusedError(
      `the states of policy check cannot stand for this schema: ${refusal}`,
    );
  }
  const texts = Object.values(set.texts);
  const { ownerId, freshId } = idsAvoiding(collectLiterals(set).users);
  return {
    roles: set.schema.roles,
    users,
    ownerRole: set.schema.roles.indexOf(OWNER_ROLE),
    startSets: spec.startSets,
    renameFlags: RENAME_FLAGS.filter((flag) => texts.some((t) => t.includes(flag))),
    ownerId,
    freshId,
  };
}
