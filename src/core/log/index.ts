export { createLogger, type Logger, type LoggerSettings } from './logger.ts';
export { createRedactor, luhn, REDACTED, type Redactor, redactText } from './redact.ts';
