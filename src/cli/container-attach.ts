import type { CliClient } from './cli-client.js';
import { CoracleError } from '../errors.js';
import type { ExitWatch } from './container-event-stream.js';
import { runSession, type SessionEnd } from './terminal-session.js';

/** The CLI's own stdio, for a session with a container. */
export const terminal = (): Pick<Parameters<typeof runSession>[1], 'input' | 'output' | 'errors'> => ({ input: process.stdin, output: process.stdout, errors: process.stderr });

/** The exit code of a session for the CLI's own: the process's, 0 after a detach. */
export function finish(end: SessionEnd): void {
  if (end.kind === 'failed') throw new CoracleError('INTERNAL', end.message);
  process.exitCode = end.kind === 'exited' ? end.exitCode : 0;
}

/** Attached to a container until it ends (its exit code is ours) or Ctrl+P Ctrl+Q; whether it was detached from. */
export async function attachTo(client: CliClient, id: string, o: { stdin: boolean; tty: boolean }, exit?: ExitWatch): Promise<'detached' | 'ended'> {
  const end = await runSession(await client.stream('attach', id, o), { ...o, detachKeys: true, ...terminal() });
  if (end.kind === 'failed') throw new CoracleError('INTERNAL', end.message);
  if (end.kind === 'detached') return 'detached';
  // run's wait, registered before the start: the code of one the daemon removed as it exited (--rm).
  const code = await exit?.exitCode(5000);
  if (code !== undefined) {
    process.exitCode = code;
    return 'ended';
  }
  // The attach ends as the process does; its exit is recorded a moment later.
  for (let i = 0; i < 50; i++) {
    const c = await client.container(id, '');
    if (c?.state !== 'running') {
      process.exitCode = c?.state === 'exited' ? c.exitCode : 0;
      return 'ended';
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'ended';
}
