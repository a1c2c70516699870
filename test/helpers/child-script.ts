import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

/**
 * Writes an ES module of `lines` to child.mjs in a temp dir of its own (removed at the
 * test's cleanup) and returns its path: a script for a test to run in a node process of its
 * own, with the flags or environment under test.
 */
export async function childScript(prefix: string, lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.mjs');
  await writeFile(script, lines.join('\n'));
  return script;
}
