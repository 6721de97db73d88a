/**
 * The README and docs/ stand alone: every link that is not a web address resolves to a file of
 * this repository (never above it, never an absolute path on someone's machine), and every
 * `#anchor` to a heading that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/process.js';

const documents = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slugOf(m[1] ?? '')));
}

function linksOf(file: string): string[] {
  // Code blocks and inline code hold commands, not links.
  const text = readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
}

describe('README and docs links', () => {
  it('finds the documents and their links', () => {
    assert.ok(documents.length > 5);
    assert.ok(linksOf(join(repoRoot, 'README.md')).length > 5);
  });

  for (const doc of documents) {
    it(`${doc}: every link stays inside the repository and resolves`, () => {
      const from = join(repoRoot, doc);
      const broken: string[] = [];
      for (const link of linksOf(from)) {
        if (/^https?:\/\//.test(link)) continue;
        if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('/')) {
          broken.push(`${link}: not a path inside the repository`);
          continue;
        }
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? from : resolve(dirname(from), decodeURIComponent(path));
        const rel = relative(repoRoot, target);
        if (rel.startsWith(`..${sep}`) || rel === '..') {
          broken.push(`${link}: outside the repository`);
        } else if (!existsSync(target)) {
          broken.push(`${link}: no such file`);
        } else if (anchor !== undefined && statSync(target).isFile() && target.endsWith('.md')) {
          if (!anchorsOf(target).has(anchor)) broken.push(`${link}: no heading #${anchor}`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
