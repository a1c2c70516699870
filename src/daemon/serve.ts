import { loadConfig, type ConfigOverrides } from '../config/load.js';
import { messageOf } from '../errors.js';
import { createLogger } from '../log.js';
import { memoryReducer } from '../util/memory-reducer.js';
import { optimizeFromNowOn } from '../util/optimizer-gate.js';
import { startDaemon } from './daemon.js';

/** serve's flags: the config file, and the values that win over it. */
export interface ServeOptions extends ConfigOverrides {
  config?: string;
}

/**
 * Runs the daemon until a signal ends it: the config loaded, the daemon started, SIGTERM and
 * SIGINT stop it, SIGHUP reloads. `startWarning` is logged once the logger exists (the
 * re-execution with the daemon's V8 flags, which failed before there was one).
 */
export async function serveDaemon(opts: ServeOptions, startWarning?: { message: string; fields: Record<string, unknown> }): Promise<void> {
  const { config, file } = await loadConfig(opts.config, opts);
  const log = createLogger(config.log);
  if (startWarning) log.warn(startWarning.message, startWarning.fields);
  const rereadConfig = async (): Promise<typeof config> => (await loadConfig(opts.config, opts)).config;
  // The handlers come before the start: 'coracle serving' is logged before startDaemon returns,
  // and a SIGTERM sent on that line (a supervisor, a test) found none and ended the daemon by
  // the signal's default, its socket left behind. One that comes while the daemon starts stops
  // it once it has started.
  let running: { stop(): void; reload(): void } | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    log.info('signal received', { signal, ...(running ? {} : { step: 'start' }) });
    running?.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP rereads the TCP listener's allow-lists and certificate files (and no longer ends the
  // daemon); one while it starts has nothing to reread yet.
  process.on('SIGHUP', () => running?.reload());
  // Logged once the handlers are in: a SIGTERM sent on this line (as a test does) must find
  // them, even if the daemon is preempted between the line's write and the next statement.
  log.info('config loaded', { file: file ?? '(embedded defaults)' });
  const daemon = await startDaemon(config, log, { rereadConfig }).catch((err: unknown) => {
    log.error('coracle failed to start', { error: messageOf(err) });
    process.exit(1);
  });
  optimizeFromNowOn();
  const reducer = memoryReducer(log);
  running = {
    reload: () => void daemon.reload(),
    stop: () => {
      reducer.stop();
      void daemon.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: messageOf(err) });
          process.exit(1);
        },
      );
    },
  };
  if (signals > 0) running.stop();
}
