/** The Dockerfile / .dockerignore reader the image replay relies on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createIgnoreMatcher,
  execForm,
  parseDockerfile,
  parseEnv,
  splitFlags,
  splitStages,
  substitute,
} from './dockerfile-model.js';

test('instructions: continuations joined, comments and directives dropped, lines kept', () => {
  const text = [
    '# syntax=docker/dockerfile:1',
    'ARG V=22',
    '',
    'FROM node:${V}-slim AS build',
    'RUN apt-get update \\',
    '    # a comment inside a continuation',
    '    && apt-get install -y make',
    'copy a b ./',
  ].join('\n');
  const ins = parseDockerfile(text);
  assert.deepEqual(
    ins.map((i) => [i.keyword, i.args, i.line]),
    [
      ['ARG', 'V=22', 2],
      ['FROM', 'node:${V}-slim AS build', 4],
      ['RUN', 'apt-get update && apt-get install -y make', 5],
      ['COPY', 'a b ./', 8],
    ],
  );
  assert.throws(() => parseDockerfile('RUN a \\'), /continuation/);
});

test('stages: global ARG defaults and overrides fill FROM; stray instructions before FROM fail', () => {
  const ins = parseDockerfile(
    'ARG V=22\nFROM node:${V}-slim AS build\nRUN x\nFROM node:${V}-slim\nCMD ["y"]',
  );
  const { stages } = splitStages(ins);
  assert.deepEqual(
    stages.map((s) => [s.name, s.base, s.instructions.length]),
    [
      ['build', 'node:22-slim', 1],
      ['1', 'node:22-slim', 1],
    ],
  );
  assert.equal(splitStages(ins, { V: '20' }).stages[0]?.base, 'node:20-slim');
  assert.throws(() => splitStages(parseDockerfile('RUN x\nFROM a')), /only ARG/);
  assert.throws(
    () => splitStages(parseDockerfile('FROM node:${NOPE}')),
    /undefined build variable/,
  );
});

test('arguments: exec form, flags, ENV pairs, substitution', () => {
  assert.deepEqual(execForm('["node", "bin/cedargate"]'), ['node', 'bin/cedargate']);
  assert.equal(execForm('node bin/cedargate'), undefined);
  assert.equal(execForm('[1, 2]'), undefined);
  assert.deepEqual(splitFlags('--from=build --chown=1000:1000 /app/dist ./dist'), {
    flags: { from: 'build', chown: '1000:1000' },
    rest: '/app/dist ./dist',
  });
  assert.deepEqual(parseEnv('NODE_ENV=production DATA_DIR=/var/lib/x NAME="two words"'), {
    NODE_ENV: 'production',
    DATA_DIR: '/var/lib/x',
    NAME: 'two words',
  });
  assert.deepEqual(parseEnv('LEGACY some value'), { LEGACY: 'some value' });
  assert.equal(substitute('a-${X}-$Y-${Z:-z}', { X: '1', Y: '2' }), 'a-1-2-z');
});

test('.dockerignore: segments, **, directories, exceptions, last match wins', () => {
  const ignored = createIgnoreMatcher(
    [
      '# comment',
      'node_modules',
      '/dist/',
      '*.log',
      'bench/results',
      '**/*.tmp',
      'docs',
      '!docs/keep.md',
    ].join('\n'),
  );
  assert.equal(ignored('node_modules/x/index.js'), true);
  assert.equal(ignored('src/node_modules/x.js'), false, 'a bare name matches at the root only');
  assert.equal(ignored('dist/src/main.js'), true);
  assert.equal(ignored('server.log'), true);
  assert.equal(ignored('logs/server.log'), false, '* stays within one segment');
  assert.equal(ignored('bench/results/run.json'), true);
  assert.equal(ignored('bench/run.ts'), false);
  assert.equal(ignored('a/b/c.tmp'), true);
  assert.equal(ignored('c.tmp'), true, '**/ matches zero directories too');
  assert.equal(ignored('docs/guide.md'), true);
  assert.equal(ignored('docs/keep.md'), false);
  assert.equal(ignored('src/config.ts'), false);
});
