import type { Command } from 'commander';
import { CORACLE_VERSION } from '../version.js';
import { withClient, type SocketOf } from './with-client.js';

/** docker's system commands: the versions, and what the daemon runs and how. */
export function registerSystemCommands(program: Command, socketOf: SocketOf): void {
  program
    .command('version')
    .description("the client's and the daemon's versions")
    .action(async (_o: unknown, cmd: Command) => {
      process.stdout.write(`Client:\n Version:\t${CORACLE_VERSION}\n Node:\t\t${process.version}\n\n`);
      await withClient(await socketOf(cmd), async (client) => {
        const v = await client.version();
        process.stdout.write(`Server: ${v.runtimeName}\n Version:\t${v.runtimeVersion}\n CRI API:\t${v.apiVersion}\n`);
      });
    });

  program
    .command('info')
    .description('what the daemon runs and how it is set up')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const [s, containers, images] = await Promise.all([client.status(), client.containers(), client.listImages()]);
        const config = JSON.parse(s.info.config ?? '{}') as { root?: string; state?: string; runtime?: { default_handler?: string }; cni?: { bridge?: string; pod_subnet?: string } };
        const count = (st: string): number => containers.filter((c) => c.state === st).length;
        process.stdout.write(
          [
            `Containers: ${containers.length}`,
            ` Running: ${count('running')}`,
            ` Stopped: ${count('exited')}`,
            ` Created: ${count('created')}`,
            `Images: ${images.length}`,
            `Default Runtime: ${config.runtime?.default_handler ?? ''}`,
            `Root Dir: ${config.root ?? ''}`,
            `State Dir: ${config.state ?? ''}`,
            `Pod Network: ${config.cni?.bridge ?? ''} ${config.cni?.pod_subnet ?? ''}`,
            ...s.conditions.map((c) => `${c.type}: ${c.status}${c.reason ? ` (${c.reason}: ${c.message})` : ''}`),
          ].join('\n') + '\n',
        );
      });
    });
}
