import { readFileSync } from 'node:fs';
import { packagePath } from './util/package-root.js';

/** The version in package.json, read once: it is what RuntimeVersion reports. */
export const CORACLE_VERSION: string = (
  JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as {
    version: string;
  }
).version;

export const RUNTIME_NAME = 'coracle';
