import { failedPrecondition, invalidArgument } from '../errors.js';
import type { Logger } from '../log.js';
import { signalNumber } from '../util/pidfd.js';
import type { ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { startEnded } from './container-lifecycle.js';
import { signalInit } from './container-signal.js';
import { isRunning } from './container-states.js';

/**
 * docker kill: `signal` (a name, with or without SIG, or a number) to the container's init
 * process. A container that is not running is refused, as docker refuses it; a signal this
 * host has no number for is refused before anything is sent.
 */
export async function kill(ctx: ContainerContext, id: string, signal: string, log: Logger): Promise<void> {
  const signo = signalNumber(signal.toUpperCase());
  if (signo === undefined) throw invalidArgument(`container ${id}: kill: invalid signal "${signal}"`);
  await startEnded(ctx, ctx.mustGet(id).id);
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: kill: container is not running`);
  await signalInit(c, String(signo), ctx.runtimeFor(c.runtimeHandler, c.id));
  log.info('container signalled', { container: c.id, signal: signo });
}
