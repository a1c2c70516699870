import type { Command } from 'commander';
import { tagImage } from './coracle-client.js';
import type { SocketOf } from './with-client.js';

/** docker tag SOURCE TARGET: prints nothing, as docker's. */
export function registerTag(program: Command, socketOf: SocketOf): void {
  program
    .command('tag')
    .description('give an image another name (TARGET: repository[:tag])')
    .argument('<source>', 'image id, id prefix, tag or digest')
    .argument('<target>', 'repository[:tag]')
    .action(async (source: string, target: string, _o: unknown, cmd: Command) => {
      await tagImage(await socketOf(cmd), source, target);
    });
}
