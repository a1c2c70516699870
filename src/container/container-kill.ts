import { failedPrecondition, invalidArgument } from '../errors.js';
import { signalNumber } from '../util/pidfd.js';
import type { ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { signalInit } from './container-signal.js';
import { isRunning } from './container-states.js';

/**
 * Sends `signal` (a name, with or without SIG, or a number) to a running container's main
 * process: docker run's signal proxy and docker kill. What the process does with it is its
 * own affair (a pid 1 ignores what it has no handler for, as under docker).
 */
export async function kill(ctx: ContainerContext, id: string, signal: string): Promise<void> {
  const c = await refresh(ctx, ctx.mustGet(id));
  const name = signal.toUpperCase();
  if (signalNumber(name) === undefined) throw invalidArgument(`container ${c.id}: signal ${JSON.stringify(signal.slice(0, 40))}: no such signal`);
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: signal ${name}: is ${c.state.toLowerCase()}, not running`);
  const number = /^\d+$/.test(name) ? name : name.startsWith('SIG') ? name : `SIG${name}`;
  await signalInit(c, number, ctx.runtimeFor(c.runtimeHandler, c.id));
}
