/**
 * Waits for a condition, checking it every `every` ms (0: at each turn of the event loop),
 * and fails naming `what` after `ms`. Tests wait for what they expect, never for a fixed time.
 */
export async function until(what: string | (() => string), check: () => boolean | Promise<boolean>, ms = 30_000, every = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => (every === 0 ? setImmediate(r) : setTimeout(r, every)));
  }
}
