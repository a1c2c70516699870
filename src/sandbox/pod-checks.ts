import { isIP } from 'node:net';
import { invalidArgument } from '../errors.js';
import { refuseNul } from './no-nul.js';
import type { SandboxSpec } from './sandbox-spec.js';

/**
 * What RunPodSandbox refuses before it makes anything, beyond the checks of its own steps:
 * - a NUL byte anywhere but in labels and annotations (no-nul.ts);
 * - `;` or `=` in the pod's name, namespace or uid: they travel to the CNI plugins in
 *   CNI_ARGS ("K8S_POD_NAME=…;K8S_POD_NAMESPACE=…"), which the plugins split on those
 *   characters and refuse as an "invalid pair". kubelet's names are DNS labels and its uids
 *   UUIDs, so no real pod is refused;
 * - a port mapping's host_ip that is not an IP address (the portmap plugin fails on it).
 * Each was an INTERNAL that test/cri/server-fuzz.test.ts found.
 */
export function vetPodSpec(spec: SandboxSpec): void {
  refuseNul('RunPodSandbox', spec);
  for (const field of ['name', 'namespace', 'uid'] as const) {
    const v = spec.metadata[field];
    if (/[;=]/.test(v)) throw invalidArgument(`sandbox metadata: ${field} ${JSON.stringify(v.slice(0, 100))}: holds ";" or "=", which CNI_ARGS cannot carry`);
  }
  for (const p of spec.portMappings) {
    if (p.hostIp && isIP(p.hostIp) === 0) throw invalidArgument(`port mapping ${p.hostPort}:${p.containerPort}: host_ip ${JSON.stringify(p.hostIp.slice(0, 100))} is not an IP address`);
  }
}
