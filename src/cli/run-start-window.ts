/** The signals that end a run before its start, and docker's exit status for each (128 + its number). */
export const WINDOW_EXITS: Readonly<Partial<Record<NodeJS.Signals, number>>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * From the make of a run's pod and container until its start: a Ctrl+C (or a SIGTERM) then
 * removes what was made and ends the run with 130 (143), as docker's run does. Without this
 * the default action would end the CLI and leave the pod and its CREATED container behind:
 * the signal proxy (run-signal-proxy.ts) is there only once the container runs, and over
 * tcp:// with --rm the daemon removes it only when it exits, which it never does.
 */
export interface StartWindow<M> {
  /** Just before the make: signals are taken from now on (not during a pull, which they end). */
  open(): void;
  /** The pod is made: a signal taken meanwhile, or from now on, discards it. */
  made(what: M): void;
  /** `step` as it settles, or, once a signal is taken, never: the run ends by the signal. */
  guard<T>(step: Promise<T>): Promise<T>;
  /** Started, or failed (its failure discards what it made): the signals are let go; one taken during a make that failed ends the run now. */
  close(): void;
}

/** `discard` removes what was made (the pod, its container); `exit` ends the process (process.exit but in tests). */
export function startWindow<M>(discard: (what: M) => Promise<void>, exit: (code: number) => void): StartWindow<M> {
  let made: M | undefined;
  let code: number | undefined;
  let discarding = false;
  const handlers: { signal: NodeJS.Signals; handler: () => void }[] = [];
  const end = (): void => {
    if (discarding || code === undefined || made === undefined) return;
    discarding = true;
    const c = code;
    void discard(made)
      .catch(() => undefined)
      .finally(() => exit(c));
  };
  const close = (): void => {
    for (const h of handlers.splice(0)) process.off(h.signal, h.handler);
  };
  return {
    open: () => {
      if (handlers.length > 0) return;
      for (const [signal, status] of Object.entries(WINDOW_EXITS) as [NodeJS.Signals, number][]) {
        const handler = (): void => {
          // A second one while the first is being handled: at once (a daemon that does not answer does not hold the CLI).
          if (code !== undefined) {
            exit(status);
            return;
          }
          code = status;
          end();
        };
        process.on(signal, handler);
        handlers.push({ signal, handler });
      }
    },
    made: (what) => {
      made = what;
      end();
    },
    guard: async (step) => {
      const settled = await step.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      if (code !== undefined) await new Promise<never>(() => undefined);
      if ('error' in settled) throw settled.error;
      return settled.value;
    },
    close: () => {
      close();
      // Taken during a make that failed: nothing to discard (the make's failure removed it).
      if (code !== undefined && made === undefined) exit(code);
    },
  };
}
