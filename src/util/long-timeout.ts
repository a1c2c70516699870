/** Node's timer limit: a longer delay (2^31 ms and up) is taken as 1 ms, with a warning. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * setTimeout for any delay: one past Node's limit is waited for in steps of at most that
 * limit, so that ExecSync's timeout of a year does not fire at once. A delay that is not a
 * finite positive number never fires. Returns the cancel.
 */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  if (!(ms > 0) || !Number.isFinite(ms)) return () => undefined;
  const deadline = Date.now() + ms;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = deadline - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
