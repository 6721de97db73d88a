/**
 * The logger: what libraries print with console.* becomes JSON log lines, so stdout stays a JSON
 * stream (node-redis's Sentinel client console.logs its rediscovery errors).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keepConsoleOffStdout, routeConsoleTo } from '../../../src/common/logger.js';
import { captureLogger } from '../../helpers/tokens.js';

describe('routeConsoleTo', () => {
  it('turns console output into log lines: errors by name and message, repeats at debug', () => {
    const saved = { ...console };
    const { logger, lines } = captureLogger();
    try {
      routeConsoleTo(logger);
      console.log(new Error('None of the sentinels are available'));
      console.log(new Error('None of the sentinels are available'));
      console.error('plain', 42);
    } finally {
      Object.assign(console, saved);
    }
    const logged = lines()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; component: string; printed: string });
    assert.deepEqual(
      logged.map((l) => [l.level, l.component, l.printed]),
      [
        [40, 'console', 'Error: None of the sentinels are available'],
        [20, 'console', 'Error: None of the sentinels are available'],
        [40, 'console', 'plain 42'],
      ],
    );
  });
});

describe('keepConsoleOffStdout', () => {
  it('one-shot commands: console output never reaches stdout; stderr only when asked', () => {
    const saved = { ...console };
    const out: string[] = [];
    const err: string[] = [];
    const realOut = process.stdout.write.bind(process.stdout);
    const realErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = (chunk: string) => out.push(chunk) > 0;
    process.stderr.write = (chunk: string) => err.push(chunk) > 0;
    try {
      keepConsoleOffStdout(false);
      console.log(new Error('None of the sentinels are available'));
      keepConsoleOffStdout(true);
      console.log('shown', 1);
    } finally {
      process.stdout.write = realOut;
      process.stderr.write = realErr;
      Object.assign(console, saved);
    }
    assert.deepEqual(out, []);
    assert.deepEqual(err, ['shown 1\n']);
  });
});
