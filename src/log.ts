import winston from 'winston';

export type Logger = winston.Logger;

/** Fields that may carry a credential; their values never reach a log line. */
const SECRET_KEYS = /^(password|auth|identity_token|registry_token|token|authorization)$/i;

const redact = winston.format((info) => {
  const scrub = (value: unknown, depth: number): unknown => {
    if (depth > 4 || typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.test(k) ? '[redacted]' : scrub(v, depth + 1);
    }
    return out;
  };
  for (const key of Object.keys(info)) {
    info[key] = SECRET_KEYS.test(key) ? '[redacted]' : scrub(info[key], 1);
  }
  return info;
});

const text = winston.format.printf((info) => {
  const { timestamp, level, message, ...fields } = info;
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`)
    .join(' ');
  return `${String(timestamp)} ${level} ${String(message)}${rest ? ' ' + rest : ''}`;
});

/** Logs go to stderr, one line per event; stdout stays free for command output. */
export function createLogger(opts: { level: string; format: 'json' | 'text' }): Logger {
  return winston.createLogger({
    level: opts.level,
    format: winston.format.combine(
      redact(),
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      opts.format === 'json' ? winston.format.json() : text,
    ),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
