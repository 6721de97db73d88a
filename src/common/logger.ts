/** JSON lines on stdout (pino). Credentials never reach a log line: see `redact`. */
import { format } from 'node:util';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'cedargate'): Logger {
  return pino({
    name,
    level,
    base: { name },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'token',
        '*.token',
      ],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/**
 * Sends what libraries print with `console.*` to `logger` instead of stdout, where a bare line
 * breaks the JSON log stream: node-redis's Sentinel client `console.log`s every failed
 * rediscovery (an Error, stack and all, once a second while no sentinel answers). One line per
 * call (component `console`) at warn, or at debug when it repeats the previous one word for word.
 * For the serving commands, whose stdout is the log; cedargate itself never writes to console.
 */
export function routeConsoleTo(logger: Logger): void {
  const log = logger.child({ component: 'console' });
  let last: string | undefined;
  const route =
    (level: 'warn' | 'debug') =>
    (...args: unknown[]): void => {
      // An Error's name and message: its stack says nothing about a refused connection.
      const text = args
        .map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : format('%s', a)))
        .join(' ');
      log[text === last ? 'debug' : level]({ printed: text }, 'a library wrote to the console');
      last = text;
    };
  console.log = route('warn');
  console.info = route('warn');
  console.warn = route('warn');
  console.error = route('warn');
  console.debug = route('debug');
  console.trace = route('debug');
}

/**
 * For the one-shot commands, whose stdout is their answer (`token revoke` prints one JSON line):
 * what libraries print with `console.*` goes to stderr when `show` (LOG_LEVEL=debug), and
 * nowhere otherwise — the command reports its own failure in one line (node-redis's Sentinel
 * client would print a stack a second while it cannot reach a sentinel).
 */
export function keepConsoleOffStdout(show: boolean): void {
  const write = (...args: unknown[]): void => {
    if (show) process.stderr.write(`${format(...args)}\n`);
  };
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    console[method] = write;
  }
}
