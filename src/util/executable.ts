import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves `name` as a shell would: a path as it is, a bare name through `dirs` (PATH). */
export async function findExecutable(
  name: string,
  dirs: readonly string[] = (process.env.PATH ?? '').split(delimiter).filter(Boolean),
): Promise<string | undefined> {
  if (name.includes('/')) {
    return isAbsolute(name) && (await isExecutableFile(name)) ? name : undefined;
  }
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
