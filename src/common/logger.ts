/** JSON lines on stdout (pino). Credentials never reach a log line: see `redact`. */
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
