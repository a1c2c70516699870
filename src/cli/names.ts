import { randomInt } from 'node:crypto';
import { CoracleError } from '../errors.js';

// A short list in docker's spirit (adjective_surname of a scientist or sailor).
const ADJECTIVES = ['admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'eager', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'serene', 'steady', 'sturdy', 'tender', 'vibrant', 'wizardly'];
const SURNAMES = ['bell', 'curie', 'darwin', 'euler', 'faraday', 'franklin', 'galileo', 'hopper', 'hypatia', 'kepler', 'lovelace', 'magellan', 'meitner', 'nansen', 'newton', 'noether', 'pascal', 'shackleton', 'tesla', 'turing'];

/** A generated name that `taken` does not have yet. */
export function generateName(taken: Set<string>): string {
  for (let i = 0; i < 100; i++) {
    const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
    if (!taken.has(name)) return name;
  }
  for (let n = 2; ; n++) {
    const name = `${ADJECTIVES[0]}_${SURNAMES[0]}${n}`;
    if (!taken.has(name)) return name;
  }
}

/** docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+; the name, when it keeps it. */
export function checkName(name: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
    throw new CoracleError('INVALID_ARGUMENT', `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name;
}

/**
 * The one container `text` names: a full id, a name, or an id prefix that only one
 * container has, as docker resolves them (in that order).
 */
export function resolveContainer<T extends { id: string; name: string }>(all: T[], text: string): T {
  const exact = all.find((c) => c.id === text) ?? all.find((c) => c.name === text);
  if (exact) return exact;
  const matches = text.length > 0 ? all.filter((c) => c.id.startsWith(text)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new CoracleError('FAILED_PRECONDITION', `multiple containers found with provided prefix: ${text}`);
  throw new CoracleError('NOT_FOUND', `no such container: ${text}`);
}
