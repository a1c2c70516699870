import type { ErrorCode } from '../errors.js';

/**
 * runc's (and conmon's) failures that the request caused, not the node: a command the image does not have
 * or cannot run, a working dir that is not a directory, a mount under /proc that runc does not
 * allow (INVALID_ARGUMENT); a container that ended while the call was on its way
 * (FAILED_PRECONDITION). containerd passes them on as they come; Coracle names them, so that no
 * request's content is ever an INTERNAL (test/cri/server-fuzz.test.ts). Matched on runc's own
 * wording; the command and the mount paths may hold anything, so only the end of the line is
 * trusted.
 *
 * No regular expressions: the line repeats client-chosen strings of any length, and a pattern
 * with `.*` before a fixed part backtracks over it (polynomially, blocking the event loop). Each
 * rule is a fixed phrase that must occur (String.includes, linear) and fixed endings tried with
 * endsWith on the line's last TAIL characters, so a rule costs O(line length) at worst.
 */
interface Rule {
  /** One of these must occur in the line, before the ending. */
  readonly after: readonly string[];
  /** One of these must end the line (less runc's closing quote). */
  readonly endings: readonly string[];
  readonly code: ErrorCode;
}

/** The most of the line's end that is looked at: every ending below is far shorter. */
const TAIL = 300;

const NOT_RUNNABLE = ['executable file not found in $PATH', 'no such file or directory', 'not a directory', 'is a directory', 'permission denied', 'exec format error', 'file name too long'];
const START = 'unable to start container process: ';
const INIT = 'error during container init: ';

const RULES: readonly Rule[] = [
  { after: [`${START}exec:`, `${START}exec `], endings: NOT_RUNNABLE.map((r) => `: ${r}`), code: 'INVALID_ARGUMENT' },
  { after: [`${START}chdir to cwd `], endings: ['not a directory', 'no such file or directory', 'permission denied'].map((r) => ` set in config.json failed: ${r}`), code: 'INVALID_ARGUMENT' },
  // A user mount whose source and destination are not of one kind (a file onto a dir).
  { after: [`${INIT}error mounting `, `${INIT}mkdir `], endings: ['not a directory', 'is a directory', 'no such file or directory'].map((r) => `: ${r}`), code: 'INVALID_ARGUMENT' },
  // runc's checkProcMount: a mount under /proc other than the few files lxcfs emulates.
  { after: [`${INIT}error mounting `], endings: [' cannot be mounted because it is inside /proc', ' cannot be mounted because it is not of type proc'], code: 'INVALID_ARGUMENT' },
  // conmon: a log path that names a directory.
  { after: [''], endings: ['Is a directory', 'Not a directory'].flatMap((r) => [`Failed to open log file ${r}`, `Failed to open log file: ${r}`]), code: 'INVALID_ARGUMENT' },
  { after: [''], endings: [': container not running'], code: 'FAILED_PRECONDITION' },
];

/** runc's words for a call on a container that is not running, anywhere in the line's tail. */
const NOT_RUNNING = ['cannot exec in a stopped container', 'cannot exec in a paused container', 'cannot update a stopped container', 'cannot update a paused container', 'cannot exec a stopped container', 'cannot exec a paused container', 'cannot update in a stopped container', 'cannot update in a paused container'];

/** The line without one closing `"` and one `\` before it (runc's quoting of its message). */
function unquoted(line: string): string {
  let end = line.length;
  if (line[end - 1] === '"') end--;
  if (line[end - 1] === '\\') end--;
  return line.slice(0, end);
}

function matches(line: string, tail: string, rule: Rule): boolean {
  const ending = rule.endings.find((e) => tail.endsWith(e));
  if (ending === undefined) return false;
  const endAt = line.length - ending.length;
  return rule.after.some((a) => {
    const at = line.indexOf(a);
    return at >= 0 && at + a.length <= endAt;
  });
}

/** The code of a runc error message (its last line) that the request caused; undefined otherwise. */
export function runcRefusal(message: string): ErrorCode | undefined {
  const trimmed = message.trim();
  const line = unquoted(trimmed.slice(trimmed.lastIndexOf('\n') + 1));
  if (line === 'container not running' || line === '"container not running') return 'FAILED_PRECONDITION';
  const tail = line.slice(-TAIL);
  for (const rule of RULES) if (matches(line, tail, rule)) return rule.code;
  return NOT_RUNNING.some((p) => tail.includes(p)) ? 'FAILED_PRECONDITION' : undefined;
}
