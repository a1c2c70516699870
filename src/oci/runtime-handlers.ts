import { findExecutable } from '../util/executable.js';

/** A RuntimeClass handler and the OCI runtime binary it runs, as found on this host. */
export interface ResolvedHandler {
  name: string;
  configured: string;
  path: string | undefined;
}

export interface HandlerConfig {
  default_handler: string;
  handlers: Record<string, { path: string }>;
}

/**
 * The configured runtime handlers. Binaries are looked up on each call, not cached: a
 * package installed after the daemon started must turn the runtime ready without a restart.
 */
export class RuntimeHandlers {
  constructor(private readonly config: HandlerConfig) {}

  get defaultName(): string {
    return this.config.default_handler;
  }

  names(): string[] {
    return Object.keys(this.config.handlers).sort();
  }

  async resolve(name: string): Promise<ResolvedHandler | undefined> {
    const entry = this.config.handlers[name];
    if (!entry) return undefined;
    return { name, configured: entry.path, path: await findExecutable(entry.path) };
  }

  async resolveAll(): Promise<ResolvedHandler[]> {
    const all = await Promise.all(this.names().map((n) => this.resolve(n)));
    return all.filter((h): h is ResolvedHandler => h !== undefined);
  }
}
