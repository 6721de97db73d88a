/**
 * `policy test --coverage`: which policies determined at least one case's decision (were among
 * the permits that allowed it or the forbids that denied it), and which no case ever exercised.
 * A policy that is merely satisfied beside a forbid that wins is not counted for the denied case:
 * no case shows what it does.
 */
import { join } from 'node:path';
import type { PolicyInfo } from '../policy-set.js';
import type { ClauseTracer, PolicyTrace } from './clauses.js';
import type { FileResult } from './test-suite.js';

/** One policy and the cases whose decision it determined. */
export interface PolicyCoverage {
  id: string;
  effect: 'permit' | 'forbid';
  /** Relative to the policy directory. */
  file: string;
  line: number;
  column: number;
  cases: number;
}

/** The coverage of one run. */
export interface CoverageReport {
  /** In file, then line order. */
  policies: PolicyCoverage[];
  covered: number;
  total: number;
}

/** Counts, per policy of `policies`, the cases of `results` whose decision it determined. */
export function coverageOf(
  policies: readonly PolicyInfo[],
  results: readonly FileResult[],
): CoverageReport {
  const counts = new Map<string, number>();
  for (const f of results) {
    for (const c of f.cases) {
      for (const id of new Set(c.policies)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  const out = policies
    .map((p) => ({
      id: p.id,
      effect: p.effect,
      file: p.file,
      line: p.line,
      column: p.column,
      cases: counts.get(p.id) ?? 0,
    }))
    .sort((a, b) => (a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.line - b.line));
  return {
    policies: out,
    covered: out.filter((p) => p.cases > 0).length,
    total: out.length,
  };
}

/** The covered share in percent, one decimal (100 for an empty set: nothing is left out). */
export function coveragePercent(r: CoverageReport): string {
  return r.total === 0 ? '100.0' : ((r.covered * 100) / r.total).toFixed(1);
}

/**
 * Whether `r` reaches `min` percent, compared with the figure as printed (one decimal): a run
 * that prints 66.7% meets `--coverage-min 66.7`.
 */
export function meetsCoverage(r: CoverageReport, min: number): boolean {
  return Number(coveragePercent(r)) >= min;
}

/**
 * The report as people (and editors: `file:line:column`) read it: a summary line, then per file
 * each policy with its count, the ones no case exercised marked.
 */
export function renderCoverage(r: CoverageReport, dir: string): string {
  const lines = [
    `coverage: ${r.covered} of ${r.total} policies determined at least one case's decision (${coveragePercent(r)}%)`,
  ];
  let file: string | null = null;
  for (const p of r.policies) {
    if (p.file !== file) {
      file = p.file;
      const inFile = r.policies.filter((q) => q.file === file);
      lines.push(`${file}: ${inFile.filter((q) => q.cases > 0).length} of ${inFile.length}`);
    }
    const where = `${join(dir, p.file)}:${p.line}:${p.column}`;
    const what =
      p.cases > 0
        ? `${p.cases} case${p.cases === 1 ? '' : 's'}`
        : 'NOT EXERCISED: no case has this policy determine its decision';
    lines.push(`  ${where}: ${p.effect} ${p.id}: ${what}`);
  }
  return lines.join('\n');
}

/** One atom of a condition: how many cases saw it true and false (where Cedar reached it). */
export interface AtomCoverage {
  text: string;
  seenTrue: number;
  seenFalse: number;
}

/** One `when`/`unless` clause: how many cases it held in and stopped the policy in. */
export interface ClauseCoverage {
  kind: 'when' | 'unless';
  location: string;
  held: number;
  failed: number;
  atoms: AtomCoverage[];
}

/** One policy's conditions over a run. */
export interface PolicyConditionCoverage {
  id: string;
  effect: 'permit' | 'forbid';
  location: string;
  /** Cases whose request matched its scope. */
  scopeMatched: number;
  /** Of those, the cases where a condition stopped it: it did not apply. */
  notApplied: number;
  clauses: ClauseCoverage[];
}

/** The coverage of conditions of one run: atoms seen both true and false. */
export interface ConditionCoverageReport {
  /** In file, then line order. */
  policies: PolicyConditionCoverage[];
  /** Why a policy's conditions could not be followed (`policy P uses ...`). */
  unanalysed: string[];
  covered: number;
  total: number;
}

/**
 * Per policy, per clause and per atom, what the cases of `results` exercised: a case counts
 * for a clause when Cedar reaches it (the scope matched and every earlier clause held), and for
 * an atom when the clause's `&&`/`||` reach it. An atom is covered when some case saw it true and
 * some case saw it false: a permit's condition no case ever saw false is one whose refusals no
 * test shows.
 */
export function conditionCoverageOf(
  tracer: ClauseTracer,
  results: readonly FileResult[],
): ConditionCoverageReport {
  const byId = new Map<string, PolicyConditionCoverage>(
    tracer.shapes.map((p) => [
      p.id,
      {
        id: p.id,
        effect: p.effect,
        location: p.location,
        scopeMatched: 0,
        notApplied: 0,
        clauses: p.clauses.map((c) => ({
          kind: c.kind,
          location: c.location,
          held: 0,
          failed: 0,
          atoms: c.atoms.map((text) => ({ text, seenTrue: 0, seenFalse: 0 })),
        })),
      },
    ]),
  );
  for (const f of results) {
    for (const c of f.cases) {
      if (c.request !== undefined) for (const t of tracer.trace(c.request)) count(byId, t);
    }
  }
  const policies = [...byId.values()];
  const atoms = policies.flatMap((p) => p.clauses.flatMap((c) => c.atoms));
  return {
    policies,
    unanalysed: [...tracer.unanalysed.values()],
    covered: atoms.filter((a) => a.seenTrue > 0 && a.seenFalse > 0).length,
    total: atoms.length,
  };
}

function count(byId: Map<string, PolicyConditionCoverage>, t: PolicyTrace): void {
  const p = byId.get(t.id);
  if (p === undefined || t.scope !== true) return;
  p.scopeMatched++;
  if (t.clauses.some((c) => c.outcome === 'failed')) p.notApplied++;
  t.clauses.forEach((c, i) => {
    const into = p.clauses[i];
    if (into === undefined) return;
    if (c.outcome === 'held') into.held++;
    if (c.outcome === 'failed') into.failed++;
    c.atoms.forEach((a, j) => {
      const atom = into.atoms[j];
      if (atom !== undefined && a.value === true) atom.seenTrue++;
      if (atom !== undefined && a.value === false) atom.seenFalse++;
    });
  });
}

/** The conditions' covered share in percent, one decimal (100 when there is no atom). */
export function conditionPercent(r: ConditionCoverageReport): string {
  return r.total === 0 ? '100.0' : ((r.covered * 100) / r.total).toFixed(1);
}

/**
 * The coverage of conditions as lines: a summary, then per policy whether a case saw its scope
 * match and a condition stop it, per clause how often it held and stopped the policy, and per
 * atom how often it was true and false, what no case showed marked in capitals.
 */
export function renderConditionCoverage(r: ConditionCoverageReport): string {
  const lines = [
    `conditions: ${r.covered} of ${r.total} atoms of when/unless clauses seen both true and false (${conditionPercent(r)}%)`,
  ];
  for (const reason of r.unanalysed) lines.push(`  not followed: ${reason}`);
  for (const p of r.policies) {
    if (p.clauses.length === 0) continue;
    const applied =
      p.scopeMatched === 0
        ? 'NO CASE MATCHED ITS SCOPE'
        : p.notApplied === 0
          ? `scope matched in ${p.scopeMatched}, NEVER STOPPED BY A CONDITION`
          : `scope matched in ${p.scopeMatched}, stopped by a condition in ${p.notApplied}`;
    lines.push(`  ${p.location}: ${p.effect} ${p.id}: ${applied}`);
    for (const c of p.clauses) {
      lines.push(`    ${c.location}: ${c.kind}: held ${c.held}, stopped ${c.failed}`);
      for (const a of c.atoms) {
        const t = a.seenTrue > 0 ? `true ${a.seenTrue}` : 'NEVER TRUE';
        const f = a.seenFalse > 0 ? `false ${a.seenFalse}` : 'NEVER FALSE';
        lines.push(`      ${a.text}: ${t}, ${f}`);
      }
    }
  }
  return lines.join('\n');
}
