import type { Command } from 'commander';
import { CliClient, type CliContainer } from './cli-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { resolveContainer } from './names.js';

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
