import type { Command } from 'commander';
import { CliClient, type CliContainer } from './cli-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { resolveContainer } from './names.js';
import { messageOf } from '../errors.js';

/** Where the commands connect: -H / CORACLE_HOST, else the config's socket. */
export type SocketOf = (command: Command) => Promise<DaemonTarget>;

/** A client of the daemon for the time of `work`, closed after it however it ends. */
export async function withClient<T>(socket: DaemonTarget, work: (c: CliClient) => Promise<T>): Promise<T> {
  const c = new CliClient(socket);
  try {
    return await work(c);
  } finally {
    c.close();
  }
}

/** The one container `text` names among the daemon's (id, name or id prefix). */
export async function findContainer(client: CliClient, text: string): Promise<CliContainer> {
  return resolveContainer(await client.containers(), text);
}

/**
 * docker's way with several names: each in turn, a failure reported as it happens and the
 * rest still done; the command then exits 1.
 */
export async function eachOf(names: string[], act: (name: string) => Promise<void>): Promise<void> {
  for (const n of names) {
    try {
      await act(n);
    } catch (err) {
      process.stderr.write(`coracle: ${messageOf(err)}\n`);
      process.exitCode = 1;
    }
  }
}

/**
 * `act` on each container `names` name (as eachOf), over one client; each name is printed
 * once its container is done, unless `act` says it printed what it had to.
 */
export async function eachContainer(socket: DaemonTarget, names: string[], act: (client: CliClient, c: CliContainer, name: string) => Promise<'printed' | void>): Promise<void> {
  await withClient(socket, (client) =>
    eachOf(names, async (n) => {
      if ((await act(client, await findContainer(client, n), n)) !== 'printed') process.stdout.write(`${n}\n`);
    }),
  );
}
