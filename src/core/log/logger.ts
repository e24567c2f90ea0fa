/**
 * JSON-lines logging on pino, with every argument passed through the redactor before pino sees it, so no
 * code path (a message, a merged object, an error's stack, a child logger's bindings) can write a secret.
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import type { MaskKind } from '../masking/index.ts';
import { createRedactor, type Redactor } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerSettings {
  level: string;
  /** Component name, written as `component` on every line. */
  component: string;
  /** Extra keys to redact (config `log.redactKeys`). */
  redactKeys?: readonly string[];
  /** Keys to mask keeping their shape (config `log.maskFields`). */
  maskFields?: Readonly<Record<string, MaskKind>>;
  /** Where lines go; stdout by default. Tests pass a memory stream. */
  destination?: DestinationStream;
}

/**
 * @example
 * const log = createLogger({ level: 'info', component: 'audit' });
 * log.info({ reqId, user: { email } }, 'appended'); // email is written as [REDACTED]
 */
export function createLogger(settings: LoggerSettings): Logger {
  const redactor = createRedactor(settings.redactKeys, settings.maskFields);
  const options: LoggerOptions = {
    level: settings.level,
    base: { component: settings.component, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    // Errors are already turned into redacted plain objects by the hook below; keep them as they are.
    serializers: { err: (err: unknown) => err },
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => redactor.redact(bindings) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        return method.apply(this, redactArgs(args, redactor) as Parameters<typeof method>);
      },
    },
  };
  const logger = settings.destination ? pino(options, settings.destination) : pino(options);
  // pino serialises a child's bindings once, without the formatters above. pino children are created with
  // Object.create(parent), so this one override covers every descendant (fastify's per-request loggers too).
  const childOf = logger.child;
  logger.child = function child(this: Logger, bindings, childOptions) {
    return childOf.call(this, redactor.redact(bindings) as typeof bindings, childOptions);
  } as typeof logger.child;
  return logger;
}

function redactArgs(args: unknown[], redactor: Redactor): unknown[] {
  const [first, ...rest] = args;
  if (first instanceof Error) {
    const err = redactor.redact(first) as { message: string };
    return [{ err }, ...(rest.length > 0 ? rest.map((a) => redactor.redact(a)) : [err.message])];
  }
  return args.map((a) => redactor.redact(a));
}
