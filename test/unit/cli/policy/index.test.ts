/**
 * The policy command's one table: `policy --help`, a subcommand's `--help` and a wrong command
 * line's error are all read from each subcommand's declared usage, so they cannot disagree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run, summary, SUBCOMMANDS, usageLines } from '../../../../src/cli/policy/index.js';
import { HelpRequested, UsageError } from '../../../../src/cli/usage.js';

/** What `run(args)` throws (it throws for help and for a wrong command line). */
async function thrown(args: string[]): Promise<unknown> {
  try {
    await run(args);
  } catch (err) {
    return err;
  }
  assert.fail(`policy ${args.join(' ')} did not throw`);
}

describe('cedargate policy: the subcommand table', () => {
  const names = Object.keys(SUBCOMMANDS);

  it('holds the seven subcommands, each usage line naming its own', () => {
    assert.deepEqual(names, ['validate', 'test', 'fmt', 'explain', 'diff', 'replay', 'check']);
    for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
      assert.ok(sub.usage.line.startsWith(`cedargate policy ${name} `), sub.usage.line);
    }
  });

  it('policy --help lists every usage line of the table', async () => {
    const err = await thrown(['--help']);
    assert.ok(err instanceof HelpRequested);
    for (const line of usageLines()) assert.ok(err.text.includes(`  ${line}\n`), line);
  });

  it('policy X --help prints X usage line and one row per declared flag, each with its help', async () => {
    for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
      const err = await thrown([name, '--help']);
      assert.ok(err instanceof HelpRequested, name);
      assert.ok(err.text.startsWith(`usage: ${sub.usage.line}\n`), err.text);
      for (const [flag, spec] of Object.entries(sub.usage.flags)) {
        assert.ok(spec.help !== undefined && spec.help !== '', `${name} --${flag} has no help`);
        assert.match(err.text, new RegExp(`^  --${flag}\\b.*${escape(spec.help)}$`, 'm'));
      }
    }
  });

  it('a missing or unknown subcommand is a UsageError listing every usage line', async () => {
    for (const [args, what] of [
      [[], 'missing subcommand'],
      [['lint'], 'unknown subcommand "lint"'],
      // An inherited property of the table is no subcommand.
      [['toString'], 'unknown subcommand "toString"'],
    ] as const) {
      const err = await thrown([...args]);
      assert.ok(err instanceof UsageError, String(err));
      const [first, ...usage] = err.message.split('\n');
      assert.equal(first, what);
      assert.deepEqual(
        usage.map((l) => l.replace(/^(usage:)? +/, '')),
        usageLines(),
      );
    }
  });

  it("cedargate --help's line names every subcommand", () => {
    assert.equal(summary().split(' ')[1], names.join('|'));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
