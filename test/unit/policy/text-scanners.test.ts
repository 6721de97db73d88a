import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commentsOf, splitPolicies } from '../../../src/policy/text-scanners.js';

describe('splitPolicies', () => {
  it('splits at each ending `;`, keeping the comments before a policy with it', () => {
    const text =
      '// head\n@id("a") permit (principal, action, resource);\n\n  forbid (principal, action, resource);\n';
    const chunks = splitPolicies(text);
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0]?.text, '// head\n@id("a") permit (principal, action, resource);');
    assert.equal(chunks[0]?.start, 0);
    assert.equal(chunks[0]?.firstToken, text.indexOf('@id'));
    assert.equal(chunks[1]?.start, text.indexOf(';') + 1);
    assert.equal(chunks[1]?.firstToken, text.indexOf('forbid'));
    assert.equal(chunks[1]?.text, text.slice(text.indexOf(';') + 1, text.lastIndexOf(';') + 1));
  });

  it('ignores `;` inside strings (escaped quotes included) and comments', () => {
    const text =
      '@notice("a; \\"b;\\" c") permit (principal, action, resource) // no; split\nwhen { true };';
    const chunks = splitPolicies(text);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]?.text, text);
  });

  it('finds nothing in text without an ending `;`, and drops a trailing remainder', () => {
    assert.deepEqual(splitPolicies('// only a comment\n'), []);
    assert.equal(splitPolicies('permit (principal, action, resource); permit').length, 1);
  });
});

describe('commentsOf', () => {
  it('finds comments, not // inside strings', () => {
    assert.deepEqual(
      commentsOf('// one\n@notice("a // b") permit (principal, action, resource); // two'),
      ['// one', '// two'],
    );
  });

  it('skips escaped quotes inside strings, and finds a comment on the last line', () => {
    assert.deepEqual(
      commentsOf('@notice("say \\"// no\\"") permit (principal, action, resource);//end'),
      ['//end'],
    );
    assert.deepEqual(commentsOf('permit (principal, action, resource);'), []);
  });
});
