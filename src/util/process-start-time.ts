import { readFile } from 'node:fs/promises';
import { isErrno } from '../errors.js';

/**
 * When process `pid` started, in clock ticks after boot (field 22 of /proc/PID/stat), or
 * undefined when there is no such process or it is a zombie. A pid can be reused once its
 * process is gone: the pid and this start time together name one process.
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
    throw err;
  }
  // The command name (field 2) may hold spaces and parens: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (the state), so field 22 is fields[19].
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}
