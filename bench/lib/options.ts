/**
 * bench/lib/options: a bench's command line. Counts are positive integers; options that are
 * wrong print why and the usage, with exit code 2.
 */
import { parseArgs } from 'node:util';

/** `--flag`'s value as a positive integer, or an error that names the flag. */
export function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, got "${value}"`);
  return n;
}

/** A command line of counts only: `defaults` names each `--option` with its default. */
export function countOptions<K extends string>(defaults: Record<K, number>): Record<K, number> {
  const names = Object.keys(defaults) as K[];
  const { values } = parseArgs({ options: Object.fromEntries(names.map((name) => [name, { type: 'string' as const, default: String(defaults[name]) }])) });
  return Object.fromEntries(names.map((name) => [name, positiveInt(name, values[name] as string | undefined)])) as Record<K, number>;
}

/** A bench's options from `parse`, or undefined once why they are wrong and the usage are printed (exit code 2). */
export function optionsOrUsage<O>(parse: () => O, usage: string): O | undefined {
  try {
    return parse();
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\nusage: ${usage}`);
    process.exitCode = 2;
    return undefined;
  }
}
