import { isAbsolute, posix } from 'node:path';
import { invalidArgument } from '../errors.js';
import type { ContainerSpec } from './container-spec.js';
import { refuseNul } from '../sandbox/no-nul.js';
import { checkRange, MAX_ID, vetResources } from './resource-checks.js';

const hasNul = (s: string): boolean => s.includes('\0');

/** `p` names the root or /proc itself, in any spelling (`/proc/`, `/proc/sys/..`). */
function overRootOrProc(p: string): boolean {
  const norm = posix.normalize(p); // one slash at most at its end
  const dest = norm.length > 1 && norm.endsWith('/') ? norm.slice(0, -1) : norm;
  return dest === '/' || dest === '/proc';
}

/**
 * What CreateContainer refuses before it makes anything: strings the kernel, runc or Node
 * cannot take (a NUL in a path, an env entry or an argument: Node throws a TypeError on
 * such a path, which would surface as INTERNAL), relative mount paths and working dirs,
 * ids outside 0..2^31-1 (runc's range), and cgroup limits the kernel refuses (resource-checks.ts). Each
 * was an INTERNAL from runc or Node that test/cri/server-fuzz.test.ts found.
 */
export async function vetContainerSpec(spec: ContainerSpec): Promise<void> {
  refuseNul('CreateContainer', spec);
  for (const m of spec.mounts) {
    if (hasNul(m.hostPath) || hasNul(m.containerPath)) throw invalidArgument(`mount ${JSON.stringify(m.hostPath)}:${JSON.stringify(m.containerPath)}: a path holds a NUL byte`);
    if (!isAbsolute(m.containerPath) || !isAbsolute(m.hostPath)) throw invalidArgument(`mount ${m.hostPath}:${m.containerPath}: paths must be absolute`);
    // Over the root or /proc itself, runc cannot set the container up (it reads /proc/self/fd).
    // Under /proc, runc decides (its checkProcMount): it takes the few files lxcfs emulates
    // (/proc/meminfo, cpuinfo, stat, uptime…, which pods on containerd and CRI-O bind over) and
    // refuses the rest, which src/oci/runc-refusals.ts names INVALID_ARGUMENT. Its list, not a
    // copy of ours, so a newer runc's longer list holds here too.
    if (overRootOrProc(m.containerPath)) throw invalidArgument(`mount ${m.hostPath}:${m.containerPath}: not over the root or /proc`);
  }
  // Relative to the pod's log directory, as kubelet gives it ("name/0.log"): not out of it, not a dir.
  if (spec.logPath && (isAbsolute(spec.logPath) || spec.logPath.split('/').some((s) => s === '..') || /(^|\/)\.?$/.test(spec.logPath))) {
    throw invalidArgument(`log path ${JSON.stringify(spec.logPath.slice(0, 100))}: must be a file name relative to the pod's log directory`);
  }
  for (const d of spec.devices) {
    if (hasNul(d.hostPath) || hasNul(d.containerPath)) throw invalidArgument(`device ${JSON.stringify(d.hostPath)}: a path holds a NUL byte`);
    if (d.containerPath && !isAbsolute(d.containerPath)) throw invalidArgument(`device ${d.hostPath}: container path ${JSON.stringify(d.containerPath.slice(0, 100))} must be absolute`);
    if (!/^[rwm]*$/.test(d.permissions)) throw invalidArgument(`device ${d.hostPath}: permissions ${JSON.stringify(d.permissions.slice(0, 20))}: only r, w and m`);
  }
  // runc lstat()s them inside the root: an empty or relative one fails the create.
  for (const [what, list] of [['masked path', spec.security.maskedPaths], ['read-only path', spec.security.readonlyPaths]] as const) {
    for (const p of list) if (!isAbsolute(p)) throw invalidArgument(`${what} ${JSON.stringify(p.slice(0, 100))}: must be absolute`);
  }
  // Masked, the root or /proc leaves runc nothing to set the process up with (the fuzz found it).
  for (const p of spec.security.maskedPaths) if (overRootOrProc(p)) throw invalidArgument(`masked path ${JSON.stringify(p)}: not the root or /proc`);
  const strings: [string, string][] = [
    ['working dir', spec.workingDir],
    ['log path', spec.logPath],
    ...spec.command.map((c): [string, string] => ['command', c]),
    ...spec.args.map((a): [string, string] => ['args', a]),
    ...spec.env.flatMap((e): [string, string][] => [['env name', e.key], ['env value', e.value]]),
    ...spec.security.maskedPaths.map((p): [string, string] => ['masked path', p]),
    ...spec.security.readonlyPaths.map((p): [string, string] => ['read-only path', p]),
  ];
  for (const [what, s] of strings) if (hasNul(s)) throw invalidArgument(`${what} ${JSON.stringify(s.slice(0, 100))}: holds a NUL byte`);
  // runc: "environment variable name can't be empty"; a `=` in a name would move the split.
  for (const e of spec.env) if (!e.key || e.key.includes('=')) throw invalidArgument(`env ${JSON.stringify(e.key.slice(0, 100))}: a name must be non-empty and hold no "="`);
  // runc: "cwd property must be an absolute path".
  if (spec.workingDir && !isAbsolute(spec.workingDir)) throw invalidArgument(`working dir ${JSON.stringify(spec.workingDir.slice(0, 100))}: must be an absolute path`);
  const sc = spec.security;
  const ids: [string, number | undefined][] = [['run_as_user', sc.runAsUser], ['run_as_group', sc.runAsGroup], ...sc.supplementalGroups.map((g): [string, number] => ['supplemental group', g])];
  for (const [what, v] of ids) if (v !== undefined && v !== 0) checkRange(`security context: ${what}`, v, [0, MAX_ID]);
  await vetResources(spec.resources);
}
