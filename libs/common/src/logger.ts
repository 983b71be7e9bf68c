import type { LoggerService } from '@nestjs/common';
import { type DestinationStream, type Logger, pino } from 'pino';
import { secretFieldNames } from '#core';
import { logCorrelationFields } from './log-context.js';

/** Field names whose values are secrets wherever they appear in a log object. */
export const SECRET_FIELDS = [
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'client_secret',
  'clientSecret',
  'id_token',
  'idToken',
  'password',
  'secret',
  'secrets',
  'privateKey',
  'private_key',
  'assertion',
  'authorization',
  'Authorization',
  'token',
];

const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/** Masks credentials that slipped into free text (an error message quoting a header, say). */
export function scrubText(text: string): string {
  return text.replace(BEARER, '$1 [redacted]').replace(JWT_LIKE, '[redacted-jwt]');
}

const CENSOR = '[redacted]';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A copy of `value` with `fields` censored where the redact paths reach: the top and two levels below. */
function censorFields(
  value: Record<string, unknown>,
  fields: ReadonlySet<string>,
  depth = 0,
): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const next = fields.has(k)
      ? CENSOR
      : depth < 2 && isPlainObject(v)
        ? censorFields(v, fields, depth + 1)
        : v;
    if (next !== v) {
      copy ??= { ...value };
      copy[k] = next;
    }
  }
  return copy ?? value;
}

/**
 * `destination` defaults to stdout; tests pass a stream to read what would be written. Secret field
 * names a credential kind registers (`addSecretFieldNames`, when the kind catalog loads) are
 * redacted too, also when they are registered after the logger was created.
 */
export function createLogger(name: string, level = 'info', destination?: DestinationStream): Logger {
  const known = new Set([...SECRET_FIELDS, ...secretFieldNames()]);
  const paths = [...known].flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `req.headers.${f.toLowerCase()}`]);
  // Names registered after this logger was made: its redact paths are fixed, so they are censored here.
  let late: ReadonlySet<string> = new Set();
  let seen = secretFieldNames().length;
  const lateNames = (): ReadonlySet<string> => {
    const all = secretFieldNames();
    if (all.length !== seen) {
      seen = all.length;
      late = new Set(all.filter((f) => !known.has(f)));
    }
    return late;
  };
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin: logCorrelationFields,
    hooks: {
      logMethod(args, method) {
        const fields = lateNames();
        const scrubbed = args.map((a) =>
          typeof a === 'string'
            ? scrubText(a)
            : fields.size > 0 && isPlainObject(a)
              ? censorFields(a, fields)
              : a,
        ) as typeof args;
        method.apply(this, scrubbed);
      },
    },
    serializers: {
      err: (err: unknown) => {
        const s = pino.stdSerializers.err(err as Error);
        return { ...s, message: scrubText(String(s.message ?? '')), stack: scrubText(String(s.stack ?? '')) };
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Nest's start-up chatter (a line per module and per route): debug, not info. */
const STARTUP_CONTEXTS: ReadonlySet<string> = new Set(['RoutesResolver', 'RouterExplorer', 'InstanceLoader']);

/** Adapts pino to Nest's logger interface; the Nest context becomes the `context` field. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, ...rest: unknown[]) {
    const context = rest.at(-1);
    this.write(
      typeof context === 'string' && STARTUP_CONTEXTS.has(context) ? 'debug' : 'info',
      message,
      rest,
    );
  }
  error(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.write('fatal', message, rest);
  }
  private write(
    level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal',
    message: unknown,
    rest: unknown[],
  ) {
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, message.message);
    } else if (message && typeof message === 'object') {
      this.logger[level]({ ...fields, ...(message as object) });
    } else {
      const stack = level === 'error' && typeof rest[0] === 'string' && rest.length > 1 ? rest[0] : undefined;
      this.logger[level]({ ...fields, ...(stack ? { stack: scrubText(stack) } : {}) }, String(message));
    }
  }
}
