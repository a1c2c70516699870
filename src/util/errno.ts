import { constants as osConstants } from 'node:os';
import { constants as fsConstants } from 'node:fs';

const names = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!names.has(value)) names.set(value, name);
}

/** 'EPERM' for 1, as Node's own errors spell it. */
export function osErrorName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}

export const constants = fsConstants;
