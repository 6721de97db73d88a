/**
 * `policy test --junit FILE`: the outcome as JUnit XML, the format CI systems (GitLab, Jenkins,
 * GitHub test reporters) read: `<testsuites>`, one `<testsuite>` per test file, one `<testcase>`
 * per case, a `<failure>` inside each failing one. A test file that fails as a whole (does not
 * parse, names an unknown role) is one failing testcase of its suite, so CI shows it too.
 */
import type { FileResult } from './test-suite.js';

/** The testcase a test file that fails as a whole is reported as. */
export const FILE_CASE_NAME = '(the test file)';

/** The XML document of `results`, named `name` (the policy directory). */
export function renderJunit(name: string, results: readonly FileResult[]): string {
  const suites = results.map((f) => {
    const cases =
      f.problem === null
        ? f.cases.map((c) => ({ name: c.name, failure: c.failure }))
        : [{ name: FILE_CASE_NAME, failure: f.problem }];
    const failures = cases.filter((c) => c.failure !== null).length;
    const body = cases.map((c) => {
      const open = `    <testcase classname=${attr(f.file)} name=${attr(c.name)}`;
      if (c.failure === null) return `${open}/>`;
      return `${open}>\n      <failure message=${attr(c.failure)}>${text(c.failure)}</failure>\n    </testcase>`;
    });
    return {
      tests: cases.length,
      failures,
      xml:
        `  <testsuite name=${attr(f.file)} tests="${cases.length}" failures="${failures}" errors="0">\n` +
        body.map((b) => `${b}\n`).join('') +
        '  </testsuite>\n',
    };
  });
  const tests = suites.reduce((n, s) => n + s.tests, 0);
  const failures = suites.reduce((n, s) => n + s.failures, 0);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name=${attr(name)} tests="${tests}" failures="${failures}" errors="0">\n` +
    suites.map((s) => s.xml).join('') +
    '</testsuites>\n'
  );
}

/**
 * Characters XML 1.0 cannot hold at all, not even as a reference (controls other than tab, LF
 * and CR; lone surrogates; U+FFFE and U+FFFF): replaced by U+FFFD so the document still parses.
 */
const NOT_XML =
  // eslint-disable-next-line no-control-regex -- matching them is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text content: `&` and `<` escaped, and `>` so that `]]>` cannot appear. */
function text(s: string): string {
  return s
    .replace(NOT_XML, '\uFFFD')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/** A double-quoted attribute value; newlines and tabs as references, which parsers keep. */
function attr(s: string): string {
  const escaped = text(s)
    .replaceAll('"', '&quot;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;')
    .replaceAll('\t', '&#9;');
  return `"${escaped}"`;
}
