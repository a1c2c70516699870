/**
 * Settles when `work` has settled, fulfilled or rejected, or once `ms` have passed, whichever
 * comes first; never rejects. For a shutdown that waits for work in flight, but not forever.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work.then(ignore, ignore), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function ignore(): void {}
