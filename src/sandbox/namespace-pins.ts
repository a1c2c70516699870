import { CoracleError } from '../errors.js';
import { NativeError, runNative } from '../util/native.js';

/** Namespaces pinned to files, by kind; a kind that is absent is the host's. */
export interface NamespacePins {
  net?: string;
  ipc?: string;
  uts?: string;
  /** The pid namespace of the pod's pause process (pid POD), pinned once it runs. */
  pid?: string;
}

export interface PinRequest {
  /** An existing directory that will hold the pin files. */
  dir: string;
  net: boolean;
  ipc: boolean;
  uts: boolean;
  hostname?: string;
  /** Already vetted: each belongs to a namespace being made. */
  sysctls: Record<string, string>;
}

const HELPER = 'coracle-pinns';

/**
 * The wrapper of native/coracle-pinns: Node never unshares or mounts itself (it is
 * multi-threaded: setns on mnt fails, on net it moves one thread). A failed pin run leaves
 * nothing: the helper undoes its own pins, and whatever a killed helper left is removed here.
 */
export async function pinNamespaces(req: PinRequest, what: string): Promise<NamespacePins> {
  const args = ['-d', req.dir];
  if (req.net) args.push('-n');
  if (req.ipc) args.push('-i');
  if (req.uts) args.push('-u');
  if (req.hostname !== undefined) args.push('-h', req.hostname);
  for (const [key, value] of Object.entries(req.sysctls)) args.push('-s', `${key}=${value}`);
  try {
    return await runNative<NamespacePins>(HELPER, args, what);
  } catch (err) {
    await unpinNamespaces(req.dir, what).catch(() => undefined);
    throw sysctlFault(err);
  }
}

/** errnos of a sysctl write or open that say the request's name or value is not one the kernel takes. */
const SYSCTL_REFUSALS = new Set([2 /* ENOENT: no such sysctl */, 22 /* EINVAL */, 34 /* ERANGE */, 75 /* EOVERFLOW */]);

/**
 * A sysctl the kernel refused (no such name, a value out of its range or not a number) is
 * the request's fault: INVALID_ARGUMENT, naming the sysctl (the helper's message does).
 */
function sysctlFault(err: unknown): unknown {
  if (!(err instanceof NativeError) || !SYSCTL_REFUSALS.has(err.errno) || !/: coracle-pinns: sysctl /.test(err.message)) return err;
  return new CoracleError('INVALID_ARGUMENT', `${err.message} (the kernel refused it)`, { cause: err });
}

/** Unmounts and removes the pins in `dir`; none there is no error. */
export async function unpinNamespaces(dir: string, what: string): Promise<void> {
  await runNative<{ removed: number }>(HELPER, ['-d', dir, '-r'], what);
}

/**
 * Pins the pid namespace of process `pid` at DIR/pid, if it is still the process that
 * started at `startTime`: the helper holds the process by an open /proc/PID dir, so a pid
 * reused by another process is refused, never pinned. Containers join the pin, not
 * /proc/PID/ns/pid, so no later reuse of the number can put them in another namespace.
 */
export async function pinPidNamespace(dir: string, pid: number, startTime: string, what: string): Promise<string> {
  const r = await runNative<{ pid: string }>(HELPER, ['-d', dir, '-p', String(pid), '-t', startTime], what);
  return r.pid;
}
