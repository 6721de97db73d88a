/**
 * `cedargate policy fmt`: rewrites the `.cedar` files of DIR (or one file) in the one layout,
 * comments kept. Exit 0 done (with --check: nothing to change), 1 a file would change (--check)
 * or does not parse, 2 a wrong command line.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatPolicies } from '../../policy/authoring/fmt.js';
import { listPolicyFiles } from '../../policy/policy-files.js';
import { parseCommandLine, type CommandUsage } from '../usage.js';
import { out } from './output.js';
import { policyTargetOf } from './target.js';

export const usage = {
  line: 'cedargate policy fmt [--check] [DIR|FILE.cedar]',
  flags: {
    check: { type: 'boolean', help: 'only report unformatted files (exit 1), change nothing' },
  },
} satisfies CommandUsage;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  // Formatting needs no schema: any .cedar file will do.
  const target = await policyTargetOf(positionals, usage.line, { needsSchema: false });
  const dir = target.dir;
  const check = values.check === true;
  const files = target.file === null ? await listPolicyFiles(dir) : [target.file];
  let changed = 0;
  let broken = 0;
  for (const rel of files) {
    const path = join(dir, rel);
    const outcome = formatPolicies(await readFile(path, 'utf8'));
    switch (outcome.kind) {
      case 'unchanged':
        break;
      case 'invalid':
        broken++;
        for (const p of outcome.problems) out(`${path}: does not parse: ${p.message}`);
        break;
      case 'refused':
        broken++;
        out(`${path}: not formatted: ${outcome.reason}`);
        break;
      case 'formatted':
        changed++;
        if (check) {
          out(path);
        } else {
          await writeFile(path, outcome.text);
          out(`formatted ${path}`);
        }
        break;
    }
  }
  const verb = check ? 'would change' : 'changed';
  out(
    `${files.length} files checked, ${changed} ${verb}${broken > 0 ? `, ${broken} not formattable` : ''}`,
  );
  return broken > 0 || (check && changed > 0) ? 1 : 0;
}
