import { InvalidArgumentError } from 'commander';
import type { CliContainer } from './cli-client.js';

/**
 * docker ps --filter: `key=value`, repeatable; a container is listed when, for every key
 * given, one of that key's values matches it (AND across keys, OR within one), as docker's.
 */
export type PsFilterKey = 'name' | 'id' | 'label' | 'status' | 'ancestor' | 'exited';
export type PsFilters = Partial<Record<PsFilterKey, string[]>>;

const KEYS: readonly PsFilterKey[] = ['name', 'id', 'label', 'status', 'ancestor', 'exited'];
/** docker's states; Coracle's containers are only ever created, running or exited. */
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** One --filter value, checked (commander names the flag and the value when it throws). */
export function psFilterArg(value: string, previous: PsFilters = {}): PsFilters {
  const eq = value.indexOf('=');
  const key = value.slice(0, eq) as PsFilterKey;
  const v = value.slice(eq + 1);
  if (eq < 0) throw new InvalidArgumentError('Expected key=value.');
  if (!KEYS.includes(key)) throw new InvalidArgumentError(`Unknown filter "${key}": expected one of ${KEYS.join(', ')}.`);
  if (key === 'status' && !STATUSES.includes(v)) throw new InvalidArgumentError(`Expected a status, one of ${STATUSES.join(', ')}.`);
  if (key === 'exited' && !/^\d{1,3}$/.test(v)) throw new InvalidArgumentError('Expected an exit code, a whole number from 0 to 255.');
  if ((key === 'name' || key === 'id') && !isRegExp(v)) throw new InvalidArgumentError(`Expected a regular expression for ${key}.`);
  if (v === '' && key !== 'name' && key !== 'id') throw new InvalidArgumentError(`Expected a value for ${key}.`);
  return { ...previous, [key]: [...(previous[key] ?? []), v] };
}

function isRegExp(v: string): boolean {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `c` passes every key of `filters`. `ancestorIds` are the image ids the ancestor
 * values name (resolved by the caller); a container also matches an ancestor by its image
 * reference as given.
 */
export function matchesPsFilters(c: CliContainer, filters: PsFilters, ancestorIds: ReadonlySet<string>): boolean {
  const any = (key: PsFilterKey, test: (v: string) => boolean): boolean => filters[key] === undefined || filters[key].some(test);
  return (
    // name and id are regular expressions searched in the value, as docker's filters.Match.
    any('name', (v) => new RegExp(v).test(c.name)) &&
    any('id', (v) => new RegExp(v).test(c.id)) &&
    any('label', (v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? Object.hasOwn(c.labels, v) : c.labels[v.slice(0, eq)] === v.slice(eq + 1);
    }) &&
    any('status', (v) => c.state === v) &&
    any('exited', (v) => c.state === 'exited' && c.exitCode === Number(v)) &&
    any('ancestor', (v) => c.image === v || ancestorIds.has(c.imageId))
  );
}
