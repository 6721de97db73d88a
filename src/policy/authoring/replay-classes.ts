/**
 * `policy replay`'s classes: how a logged decision's answer changes under the candidate, and the
 * changed requests grouped by action, relation and change (change-classes.ts), each class with
 * its count, its first request ids and the facts its requests share.
 */
import {
  AS_SEEN,
  classKey,
  describe,
  featuresOf,
  intersect,
  relationOf,
  sortClasses,
  summaryOf,
} from './change-classes.js';
import type { Feature, Relation } from './change-classes.js';
import { assertRoomFor } from './replay-input.js';
import type { LoggedDecision, ReplayAnswer, ReplayClass } from './replay.js';
import type { Decision, UsersAction } from '../types.js';

/** How the candidate's answer differs from the logged one. */
export interface Change {
  kind: ReplayClass['kind'];
  before: ReplayAnswer;
  after: ReplayAnswer & { notices: readonly string[] };
}

/**
 * The change of a logged decision under the candidate's decision `d`: allow ↔ deny, or a deny by
 * other policies; null when the answer is the same.
 */
export function changeOf(logged: LoggedDecision, d: Omit<Decision, 'cached'>): Change | null {
  const after = { decision: d.allowed ? 'allow' : 'deny', policies: d.policies } as const;
  const kind =
    after.decision !== logged.decision
      ? 'decision'
      : after.decision === 'deny' && !sameList(after.policies, logged.policies)
        ? 'policies'
        : null;
  if (kind === null) return null;
  const before = { decision: logged.decision, policies: [...logged.policies].sort() };
  return { kind, before, after: { ...after, notices: d.notices } };
}

/** A class being gathered. */
interface Group {
  cls: Omit<ReplayClass, 'summary' | 'description'>;
  /** The facts every member has. */
  shared: Feature[] | null;
}

/** The changed requests, grouped by action, relation and change (`classKey`). */
export class ChangeClasses {
  private readonly groups = new Map<string, Group>();

  /** `maxIds`: request ids kept per class; the count stays exact beyond it. */
  constructor(private readonly maxIds: number) {}

  /** Adds a changed request (read at `line`) to its class, made on first sight. */
  add(logged: LoggedDecision, change: Change, line: number): void {
    const relation = relationOf(logged.request);
    const { kind, before, after } = change;
    const key = classKey(logged.request.action, relation, kind, before, after);
    let g = this.groups.get(key);
    if (g === undefined) {
      assertRoomFor('classes', this.groups.size, line);
      g = { cls: newClass(logged.request.action, relation, change), shared: null };
      this.groups.set(key, g);
    }
    g.cls.count++;
    if (g.cls.requestIds.length < this.maxIds) {
      g.cls.requestIds.push(logged.requestId);
      g.cls.requestUids.push(logged.requestUid);
    }
    g.shared = intersect(g.shared, featuresOf(logged.request, relation, AS_SEEN));
  }

  /** Every class with its summary and the facts its requests share, in report order. */
  all(): ReplayClass[] {
    const classes = [...this.groups.values()].map(({ cls, shared }) => ({
      ...cls,
      summary: summaryOf(cls, shared ?? []),
      description: describe(shared ?? []),
    }));
    return sortClasses(classes);
  }
}

function newClass(action: UsersAction, relation: Relation, change: Change): Group['cls'] {
  const { kind, before, after } = change;
  return {
    action,
    relation,
    kind,
    before,
    after: { ...after, policies: [...after.policies], notices: [...after.notices] },
    count: 0,
    requestIds: [],
    requestUids: [],
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}
