/**
 * docs/policies.md's `support` walk-through (issue 27), run as written, so its outputs cannot
 * rot: the section between `<!-- walkthrough:start -->` and `<!-- walkthrough:end -->` is read
 * block by block, in order, in a fresh directory holding a copy of the shipped `policies`:
 *
 * - a ` ```cedar ` block that starts with `entity Role enum` replaces that line of
 *   `policies-new/schema.cedarschema` (`policies-new` is made as a copy of `policies` first);
 * - a block whose info string names a file after the language (` ```cedar policies-new/x.cedar `)
 *   writes that file;
 * - a block of `$ bin/cedargate …` lines runs each through bash there, and what it printed
 *   on stdout (progress lines on stderr are not shown) must be the lines under it. A trailing
 *   `# exit N` is the exit code it must give. A line `…` stands for any lines; a time
 *   (`in 8.0 s`) for any time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot, shippedPolicies, tempDir } from '../helpers/process.js';

interface Block {
  info: string;
  body: string;
}

/** The fenced blocks of the walk-through section, in order. */
function walkthroughBlocks(): Block[] {
  const doc = readFileSync(join(repoRoot, 'docs', 'policies.md'), 'utf8');
  const start = doc.indexOf('<!-- walkthrough:start -->');
  const end = doc.indexOf('<!-- walkthrough:end -->');
  assert.ok(start >= 0 && end > start, 'docs/policies.md marks its walk-through');
  // Blocks may be indented under a list item: the fence's indentation is taken off each line.
  return [...doc.slice(start, end).matchAll(/^( *)```([^\n]*)\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    info: (m[2] ?? '').trim(),
    body: (m[3] ?? '')
      .split('\n')
      .map((l) => l.slice(Math.min((m[1] ?? '').length, l.length - l.trimStart().length)))
      .join('\n'),
  }));
}

/** One command of a block, the output the doc shows for it and the exit code it promises. */
interface Shown {
  command: string;
  exit: number;
  lines: string[];
}

function commandsOf(body: string): Shown[] {
  const shown: Shown[] = [];
  for (const line of body.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('$ ')) {
      const exit = /#\s*exit (\d+)\s*$/.exec(line);
      assert.ok(exit !== null, `"${line}" says its exit code (# exit N)`);
      shown.push({
        command: line.slice(2, exit.index).trim(),
        exit: Number(exit[1]),
        lines: [],
      });
    } else {
      const last = shown.at(-1);
      assert.ok(last !== undefined, `output line before any command: ${line}`);
      last.lines.push(line);
    }
  }
  return shown;
}

/** A time is whatever the run took. */
const timeless = (line: string) => line.replace(/\bin \d+(?:\.\d+)? s\b/g, 'in … s');

/** Whether `actual` is `expected`, a `…` line of `expected` standing for any lines. */
function matches(expected: string[], actual: string[]): boolean {
  const [first, ...rest] = expected;
  if (first === undefined) return actual.length === 0;
  if (first.trim() === '…') {
    for (let skip = 0; skip <= actual.length; skip++) {
      if (matches(rest, actual.slice(skip))) return true;
    }
    return false;
  }
  return (
    actual.length > 0 &&
    timeless(actual[0] ?? '') === timeless(first) &&
    matches(rest, actual.slice(1))
  );
}

describe('docs/policies.md: the support walk-through, run as written', () => {
  const dir = tempDir('cedargate-walkthrough-');
  after(() => dir.remove());

  it('every command prints what the doc shows and exits as it says', () => {
    cpSync(shippedPolicies, join(dir.path, 'policies'), { recursive: true });
    symlinkSync(join(repoRoot, 'bin'), join(dir.path, 'bin'));
    let ran = 0;
    for (const block of walkthroughBlocks()) {
      const [lang, file] = block.info.split(/\s+/);
      if (lang === 'cedar' && block.body.startsWith('entity Role enum')) {
        cpSync(join(dir.path, 'policies'), join(dir.path, 'policies-new'), { recursive: true });
        const schema = join(dir.path, 'policies-new', 'schema.cedarschema');
        const text = readFileSync(schema, 'utf8');
        const widened = text.replace(/entity Role enum \[[^\]]*\];/, block.body.trim());
        assert.notEqual(widened, text, 'the enum line replaced');
        writeFileSync(schema, widened);
      } else if (file !== undefined && file !== '') {
        writeFileSync(join(dir.path, file), block.body);
      } else if (block.body.startsWith('$ ')) {
        for (const c of commandsOf(block.body)) {
          const r = spawnSync('bash', ['-c', c.command], {
            cwd: dir.path,
            env: { ...process.env, LOG_LEVEL: 'warn', POLICY_DIR: join(dir.path, 'policies') },
            encoding: 'utf8',
            maxBuffer: 64 << 20,
          });
          const out = r.stdout.replace(/\n$/, '').split('\n');
          assert.ok(
            matches(c.lines, out),
            `$ ${c.command}\n--- the doc shows\n${c.lines.join('\n')}\n--- it printed\n${r.stdout}`,
          );
          assert.equal(
            r.status,
            c.exit,
            `$ ${c.command}: exit ${r.status}, the doc says ${c.exit}`,
          );
          ran++;
        }
      }
    }
    assert.ok(ran >= 8, `the walk-through ran ${ran} commands`);
  });
});
