import type { Command } from 'commander';
import { registerCompletionCommands } from './completion-commands.js';
import { registerContainerCommands } from './container-commands.js';
import { registerCp } from './container-cp.js';
import { registerEvents } from './container-events.js';
import { registerLifecycleCommands } from './container-lifecycle-commands.js';
import { registerPort } from './container-port.js';
import { registerStats } from './container-stats.js';
import { registerTag } from './image-tag-command.js';
import { registerImageCommands } from './image-commands.js';
import { registerLoginCommands } from './login-commands.js';
import { registerSystemCommands } from './system-commands.js';
import type { SocketOf } from './with-client.js';

/**
 * Docker's everyday commands, over the daemon's socket, on the services kubelet uses:
 * `coracle run` makes a pod sandbox with one container, labelled as the CLI's. Each verb
 * group registers its own; this only wires them, in the order `coracle --help` lists them.
 */
export function registerDockerCommands(program: Command, socketOf: SocketOf): void {
  registerContainerCommands(program, socketOf);
  registerLifecycleCommands(program, socketOf);
  registerPort(program, socketOf);
  registerEvents(program, socketOf);
  registerStats(program, socketOf);
  registerCp(program, socketOf);
  registerImageCommands(program, socketOf);
  registerTag(program, socketOf);
  registerLoginCommands(program);
  registerSystemCommands(program, socketOf);
  registerCompletionCommands(program);
}
