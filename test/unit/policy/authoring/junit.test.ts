import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FILE_CASE_NAME, renderJunit } from '../../../../src/policy/authoring/junit.js';
import { parseXml } from '../../../helpers/xml.js';

describe('renderJunit', () => {
  it('writes testsuites / testsuite per file / testcase per case / failure', () => {
    const xml = renderJunit('cedargate policy test p', [
      {
        file: 'p/tests/a.yaml',
        problem: null,
        cases: [
          { name: 'ok', failure: null, policies: ['x'] },
          { name: 'bad', failure: 'expected deny, got allow', policies: ['x'] },
        ],
      },
      {
        file: 'p/tests/b.yaml',
        problem: 'p/tests/b.yaml: `cases` must be a non-empty list',
        cases: [],
      },
    ]);
    assert.equal(
      xml,
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="cedargate policy test p" tests="3" failures="2" errors="0">',
        '  <testsuite name="p/tests/a.yaml" tests="2" failures="1" errors="0">',
        '    <testcase classname="p/tests/a.yaml" name="ok"/>',
        '    <testcase classname="p/tests/a.yaml" name="bad">',
        '      <failure message="expected deny, got allow">expected deny, got allow</failure>',
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="p/tests/b.yaml" tests="1" failures="1" errors="0">',
        `    <testcase classname="p/tests/b.yaml" name="${FILE_CASE_NAME}">`,
        '      <failure message="p/tests/b.yaml: `cases` must be a non-empty list">p/tests/b.yaml: `cases` must be a non-empty list</failure>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });

  it('escapes names and messages so the document stays well-formed and says the same', () => {
    const nasty = `a <b> & "c" 'd' ]]> \u0001\u0000 tab\there\nline2 \uD800 ✓ 😀 &amp;`;
    const xml = renderJunit(nasty, [
      { file: nasty, problem: null, cases: [{ name: nasty, failure: nasty, policies: [] }] },
    ]);
    assert.ok(!xml.includes(']]>'));
    const root = parseXml(xml);
    const suite = root.children[0];
    const testcase = suite?.children[0];
    const failure = testcase?.children[0];
    // What XML cannot hold at all is replaced; the rest comes back exactly.
    // eslint-disable-next-line no-control-regex -- the characters under test
    const expected = nasty.replace(/[\u0000\u0001\uD800]/g, '\uFFFD');
    assert.equal(root.attributes['name'], expected);
    assert.equal(suite?.attributes['name'], expected);
    assert.equal(testcase?.attributes['name'], expected);
    assert.equal(failure?.name, 'failure');
    assert.equal(failure?.attributes['message'], expected);
    assert.equal(failure?.text, expected);
  });

  it('writes an empty run as an empty testsuites', () => {
    const root = parseXml(renderJunit('x', []));
    assert.equal(root.name, 'testsuites');
    assert.equal(root.attributes['tests'], '0');
    assert.deepEqual(root.children, []);
  });
});

describe('the test well-formedness check itself', () => {
  const bad = [
    '<a><b></a></b>',
    '<a x="1" x="2"/>',
    '<a>&nbsp;</a>',
    '<a>a & b</a>',
    '<a>1 < 2</a>',
    '<a/><b/>',
    '<a>',
    '<a x=1/>',
    '<a>\u0001</a>',
  ];
  for (const doc of bad) {
    it(`refuses ${JSON.stringify(doc)}`, () => assert.throws(() => parseXml(doc)));
  }
});
