/**
 * What `findTooDeep` counts as one level of nesting (policy-limits.ts's module comment), case by
 * case: the index it reports is the character that goes one level past the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findTooDeep } from '../../../src/policy/policy-limits.js';

/** The index `findTooDeep` reports, or null when the text is within `max`. */
const at = (text: string, max: number, mode: 'policy' | 'schema' = 'policy') =>
  findTooDeep(text, max, mode)?.index ?? null;

describe('findTooDeep in policy text', () => {
  it('counts each open bracket, and reports the one past the limit', () => {
    assert.equal(at('((([x])))', 4), null);
    assert.equal(at('((([x])))', 3), 3);
    assert.equal(at('{a: {b: (c)}}', 2), 8);
  });

  it('counts a chain of operators as nested, one level per operator', () => {
    // `a && b && c` is two deep: the second `&&` (its second character) goes past 1.
    assert.equal(at('a && b && c', 2), null);
    assert.equal(at('a && b && c', 1), 8);
    assert.equal(at('a || b + c - d * e', 3), 15);
    assert.equal(at('!a', 0), 0);
  });

  it('does not count comparisons, `!=` included', () => {
    assert.equal(at('a != b == c < d >= e', 0), null);
  });

  it("ends an element's chain at a comma", () => {
    assert.equal(at('[a && b, c && d]', 2), null);
    assert.equal(at('[a && b, c && d]', 1), 4);
  });

  it('counts a run of member accesses until the next operator', () => {
    assert.equal(at('a.b.c.d', 2), 5);
    assert.equal(at('a.b.c + a.b.c', 3), null);
    assert.equal(at('a.b.c + a.b.c', 2), 11);
    // A decimal point is not a member access.
    assert.equal(at('1.5', 0), null);
  });

  it('counts `if` as an operator; `then`, `else` and `in` end a chain', () => {
    const text = 'if a then if b then c else d else e';
    assert.equal(at(text, 2), null);
    assert.equal(at(text, 1), 11);
    assert.equal(at('a.b in c.d', 2), null);
    // Part of a longer word is no keyword.
    assert.equal(at('iffy && b', 1), null);
  });

  it('skips comments and strings, escaped quotes included', () => {
    assert.equal(at('// ((((((\nx', 1), null);
    assert.equal(at('"\\"(((((" == a', 0), null);
    assert.equal(at('"((" (', 0), 5);
  });

  it('starts again at zero after each `;`', () => {
    assert.equal(at('(((;(((', 3), null);
  });

  it('ignores a closer without its opener', () => {
    assert.equal(at(')))(((', 3), null);
    assert.equal(at(')))((((', 3), 6);
  });

  it('says in its message what counts and what to do', () => {
    const message = findTooDeep('((x))', 1)?.message ?? '';
    assert.match(message, /^policy text nested more than 1 deep/);
    assert.match(message, /split the condition or the policy/);
  });
});

describe('findTooDeep in schema text', () => {
  it('counts `<` and `>` as brackets', () => {
    assert.equal(at('Set<Set<Set<String>>>', 3, 'schema'), null);
    assert.equal(at('Set<Set<Set<String>>>', 2, 'schema'), 11);
  });

  it('counts no operator, and does not start again at `;`', () => {
    assert.equal(at('a && b || !c', 0, 'schema'), null);
    assert.equal(at('(((;(((', 3, 'schema'), 4);
  });

  it('names the schema in its message', () => {
    assert.match(findTooDeep('{{}}', 1, 'schema')?.message ?? '', /^schema text nested more/);
  });
});
