import { InvalidArgumentError } from 'commander';
import { constants } from 'node:os';
import { messageOf } from '../errors.js';

/**
 * One parser per kind of flag value, for commander's option parsers: a bad value is refused
 * at parse time, and commander names the flag and the value ("option '-t, --time <seconds>'
 * argument 'abc' is invalid. …"); main.ts makes every such usage error exit 2, as docker's
 * flag errors are usage errors. The flag's name is in commander's line already: the
 * messages here say what was expected.
 */

/** A whole number in [min, max]: "5", not "5s", "1e3", "0x10" or "". */
export function intArg(o: { min?: number; max?: number } = {}): (value: string) => number {
  const min = o.min ?? Number.MIN_SAFE_INTEGER;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  return (value) => {
    const n = /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Expected a whole number${rangeText(min, max)}.`);
    return n;
  };
}

/** A whole number in [min, max], or one of `words` (logs --tail all). */
export function intOrWordArg(words: readonly string[], o: { min?: number; max?: number } = {}): (value: string) => number | string {
  const int = intArg(o);
  return (value) => {
    if (words.includes(value)) return value;
    try {
      return int(value);
    } catch (err) {
      throw new InvalidArgumentError(`${messageOf(err).replace(/\.$/, '')}, or ${words.map((w) => `"${w}"`).join(' or ')}.`);
    }
  };
}

/** One of `values`, as given. */
export function enumArg<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`Expected one of: ${values.join(', ')}.`);
    return value as T;
  };
}

/**
 * A repeatable flag (-e, -v, -p) whose each value `parse` checks as it comes: what `parse`
 * throws becomes commander's usage error; the values are collected in order.
 */
export function repeatableArg<T>(parse: (value: string) => T): (value: string, previous?: T[]) => T[] {
  return (value, previous = []) => [...previous, checked(parse)(value)];
}

/** `parse`, its errors made commander's usage errors. */
export function checked<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw err;
      throw new InvalidArgumentError(messageOf(err));
    }
  };
}

/** A signal: a name with or without SIG, any case (KILL, sigterm), or a number from 1 to 64; as its number. */
export function signalArg(value: string): string {
  const upper = value.toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  if (/^\d{1,2}$/.test(value) && Number(value) >= 1 && Number(value) <= 64) return String(Number(value));
  if (/^SIG[A-Z0-9]+$/.test(name) && Object.hasOwn(constants.signals, name)) return String(constants.signals[name]);
  throw new InvalidArgumentError('Expected a signal name (KILL, SIGTERM) or number (1 to 64).');
}

function rangeText(min: number, max: number): string {
  const low = min !== Number.MIN_SAFE_INTEGER;
  const high = max !== Number.MAX_SAFE_INTEGER;
  if (low && high) return ` from ${min} to ${max}`;
  if (low) return min === 0 ? ' (0 or more)' : ` (${min} or more)`;
  if (high) return ` (${max} or less)`;
  return '';
}
