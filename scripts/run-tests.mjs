#!/usr/bin/env node
// Runs the compiled test suite with node's test runner. `npm test` builds first.
// Usage: node scripts/run-tests.mjs [path-prefix ...]   e.g. test/unit test/e2e/sidecar
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const distTest = join(root, 'dist', 'test');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

const filters = process.argv.slice(2).map((f) => f.replace(/\.ts$/, '').replace(/^\.\//, ''));
const files = walk(distTest)
  .filter((f) => {
    const rel = relative(join(root, 'dist'), f);
    return filters.length === 0 || filters.some((flt) => rel.startsWith(flt));
  })
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

// Redis-backed tests need a real redis-server. Locally they are skipped loudly without it;
// under CI=true its absence fails the run so that CI can never skip them.
const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
if (which.status !== 0) {
  const msg =
    'redis-server not found: the Redis tests will be SKIPPED. Install it with: sudo apt-get install -y redis-server';
  if (process.env.CI === 'true') {
    console.error(`FATAL (CI=true): ${msg}`);
    process.exit(1);
  }
  console.error(`\n*** ${msg} ***\n`);
}

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
