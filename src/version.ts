import { readFileSync } from 'node:fs';

/** The version in package.json, read once: it is what RuntimeVersion reports. */
export const CORACLE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export const RUNTIME_NAME = 'coracle';
