import type { Command } from 'commander';
import { CoracleError } from '../errors.js';
import type { CliClient, CliContainer } from './cli-client.js';
import { watchContainerEvents, type Known } from './container-event-stream.js';
import { restartContainer, signalContainer } from './coracle-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { intArg, signalArg } from './flag-parsers.js';
import { operandCommand } from './operand-command.js';
import { eachContainer, type SocketOf } from './with-client.js';

/** The longest `wait` re-reads a container's state between events, in case one was missed. */
const WAIT_RECHECK_MS = 2_000;

/** docker kill, restart and wait. */
export function registerLifecycleCommands(program: Command, socketOf: SocketOf): void {
  registerKill(program, socketOf);
  registerRestart(program, socketOf);
  registerWait(program, socketOf);
}

function registerKill(program: Command, socketOf: SocketOf): void {
  const options = [{ flags: '-s, --signal <signal>', description: 'signal to send: a name (KILL, SIGTERM) or number', parse: signalArg, default: '9' }];
  operandCommand<string[], { signal: string }>(program, socketOf, { name: 'kill', description: 'send a signal (KILL unless -s) to running containers', operand: '<container...>', options }, (names, o, socket) =>
    eachContainer(socket, names, (_client, c) => signalContainer(socket, c.id, o.signal)),
  );
}

function registerRestart(program: Command, socketOf: SocketOf): void {
  const options = [{ flags: '-t, --time <seconds>', description: 'seconds to wait for it to stop before SIGKILL', parse: intArg({ min: 0 }), default: 10 }];
  operandCommand<string[], { time: number }>(program, socketOf, { name: 'restart', description: 'stop containers (if running) and start them again, their filesystems kept', operand: '<container...>', options }, (names, o, socket) =>
    eachContainer(socket, names, async (client, c) => {
      if (c.state === 'running') await client.stop(c.id, o.time);
      await restartContainer(socket, c.id);
    }),
  );
}

function registerWait(program: Command, socketOf: SocketOf): void {
  operandCommand<string[]>(program, socketOf, { name: 'wait', description: 'block until containers stop, then print their exit codes', operand: '<container...>' }, (names, _o, socket) =>
    eachContainer(socket, names, async (client, c) => {
      process.stdout.write(`${await waitExit(socket, client, c)}\n`);
      return 'printed';
    }),
  );
}

/**
 * The exit code of `c` once it has exited: on each of its events (GetContainerEvents), and at
 * the latest every WAIT_RECHECK_MS, its state is read again; the events are subscribed to
 * before the first read, so an exit between the two is seen by the read or the recheck.
 */
async function waitExit(socket: DaemonTarget, client: CliClient, c: CliContainer): Promise<number> {
  let wake: () => void = () => undefined;
  const events = watchContainerEvents(socket, new Map<string, Known>([[c.id, { image: c.image, name: c.name }]]), (e) => {
    if (e.id === c.id) wake();
  });
  let failed: Error | undefined;
  events.done.catch((err: unknown) => {
    failed = err instanceof Error ? err : new Error(String(err));
    wake();
  });
  try {
    for (;;) {
      const now = await client.container(c.id, c.podId);
      if (!now) throw new CoracleError('NOT_FOUND', `container ${c.id}: wait: removed before it exited`);
      if (now.state === 'exited') return now.exitCode;
      if (failed) throw failed;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, WAIT_RECHECK_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    events.close();
  }
}
