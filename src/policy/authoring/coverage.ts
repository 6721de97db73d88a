/**
 * `policy test --coverage`: which policies determined at least one case's decision (were among
 * the permits that allowed it or the forbids that denied it), and which no case ever exercised.
 * A policy that is merely satisfied beside a forbid that wins is not counted for the denied case:
 * no case shows what it does.
 */
import { join } from 'node:path';
import type { PolicyInfo } from '../policy-set.js';
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
