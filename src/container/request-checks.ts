import { isAbsolute } from 'node:path';
import { invalidArgument } from '../errors.js';
import type { ContainerSpec } from './container-service.js';
import { refuseNul } from '../sandbox/no-nul.js';

const hasNul = (s: string): boolean => s.includes('\0');

/**
 * What CreateContainer refuses before it makes anything: strings the kernel, runc or Node
 * cannot take (a NUL in a path, an env entry or an argument: Node throws a TypeError on
 * such a path, which would surface as INTERNAL), relative mount paths, and negative values
 * where the OCI spec has unsigned ones (runc fails to parse them). Found by
 * test/cri/cri-fuzz.test.ts.
 */
export function vetContainerSpec(spec: ContainerSpec): void {
  refuseNul('CreateContainer', spec);
  for (const m of spec.mounts) {
    if (hasNul(m.hostPath) || hasNul(m.containerPath)) throw invalidArgument(`mount ${JSON.stringify(m.hostPath)}:${JSON.stringify(m.containerPath)}: a path holds a NUL byte`);
    if (!isAbsolute(m.containerPath) || !isAbsolute(m.hostPath)) throw invalidArgument(`mount ${m.hostPath}:${m.containerPath}: paths must be absolute`);
  }
  for (const d of spec.devices) if (hasNul(d.hostPath) || hasNul(d.containerPath)) throw invalidArgument(`device ${JSON.stringify(d.hostPath)}: a path holds a NUL byte`);
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
  const r = spec.resources;
  for (const [what, v] of [['cpu_shares', r.cpuShares], ['cpu_period', r.cpuPeriod], ['memory_limit_in_bytes', r.memoryLimit]] as const) {
    if (v !== undefined && (v < 0 || !Number.isFinite(v))) throw invalidArgument(`resources: ${what} ${v}: must not be negative`);
  }
}
