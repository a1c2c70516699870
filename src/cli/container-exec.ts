import type { Command } from 'commander';
import type { ExecOverrides } from '../oci/exec-overrides.js';
import { finish, terminal } from './container-attach.js';
import { checked, repeatableArg } from './flag-parsers.js';
import { runSession } from './terminal-session.js';
import { findContainer as find, withClient, type SocketOf } from './with-client.js';

/**
 * docker exec: over CRI's streaming Exec, with or without a tty, the output printed as it
 * comes (stdout and stderr apart without a tty) and the command's status the CLI's; `-d`
 * through ExecSync, which returns once the command runs. `-e`, `-u`, `-w` and `-d` are what
 * CRI's requests have no field for: they go in Coracle's exec metadata (cri/exec-metadata.ts).
 */
interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env?: (string | undefined)[];
  user?: string;
  workdir?: string;
}

/** `-e KEY=VALUE`, or `-e KEY` for the client's own value (none when it has none, as docker's). */
function envItem(value: string): string | undefined {
  const at = value.indexOf('=');
  const key = at < 0 ? value : value.slice(0, at);
  if (key === '' || /[\0\s]/.test(key)) throw new Error('Expected KEY=VALUE or KEY, KEY not empty and without spaces.');
  if (value.includes('\0')) throw new Error('Expected no NUL byte.');
  if (at >= 0) return value;
  const own = process.env[key];
  return own === undefined ? undefined : `${key}=${own}`;
}

function userArg(value: string): string {
  if (!/^[^:\0\s]{1,256}(:[^:\0\s]{1,256})?$/.test(value)) throw new Error('Expected a name, a uid, name:group or uid:gid.');
  return value;
}

function workdirArg(value: string): string {
  if (!value.startsWith('/') || value.includes('\0') || value.length > 4096) throw new Error('Expected an absolute path.');
  return value;
}

export function registerExec(program: Command, socketOf: SocketOf): void {
  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-d, --detach', 'start the command and return, its output discarded')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable; KEY alone: the local value)', repeatableArg(checked(envItem)))
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('-u, --user <user>', 'the user: name, uid, name:group or uid:gid (from the container\'s /etc/passwd, /etc/group)', checked(userArg))
    .option('-w, --workdir <dir>', 'the working directory, an absolute path in the container', checked(workdirArg))
    .passThroughOptions()
    .action(async (name: string, command: string[], o: ExecFlags, cmd: Command) => {
      const env = (o.env ?? []).filter((e): e is string => e !== undefined);
      const overrides: ExecOverrides = { ...(env.length > 0 ? { env } : {}), ...(o.user ? { user: o.user } : {}), ...(o.workdir ? { workdir: o.workdir } : {}) };
      await withClient(await socketOf(cmd), async (client) => {
        const c = await find(client, name);
        if (o.detach) {
          await client.execDetached(c.id, command, overrides);
          return;
        }
        const endpoint = await client.stream('exec', c.id, { cmd: command, stdin: o.interactive === true, tty: o.tty === true, overrides });
        finish(await runSession(endpoint, { stdin: o.interactive === true, tty: o.tty === true, detachKeys: false, ...terminal() }));
      });
    });
}
