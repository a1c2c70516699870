import type { CgroupHost } from './cgroup-host.js';
import type { Logger } from '../log.js';

/** A resource of OCI linux.resources that was left out, and the controller it needed. */
export interface LeftOut {
  /** As named in the spec: cpu.shares, memory, hugepageLimits, devices… */
  resource: string;
  controller: string;
}

/** Each field Coracle writes under linux.resources.cpu, and the controller that sets it. */
const CPU_FIELDS: Record<string, string> = { shares: 'cpu', quota: 'cpu', period: 'cpu', cpus: 'cpuset', mems: 'cpuset' };

/** Each other resource Coracle writes, and the controller that sets it. */
const RESOURCES: Record<string, string> = { memory: 'memory', hugepageLimits: 'hugetlb', pids: 'pids', devices: 'devices' };

/**
 * OCI linux.resources cut to what the host's cgroups can hold: runc fails a container
 * ("cannot set hugetlb limit: container could not join or create cgroup") when a resource
 * is set whose controller it has no hierarchy for. containerd leaves hugepage limits out
 * the same way (tolerate_missing_hugetlb_controller); here every controller is checked.
 * On unified, devices are kept: runc enforces them with an eBPF program, not a controller.
 */
export function fitResources(resources: Record<string, unknown>, host: Pick<CgroupHost, 'layout' | 'controllers'>): { resources: Record<string, unknown>; leftOut: LeftOut[] } {
  const has = (controller: string): boolean => host.controllers.includes(controller) || (controller === 'devices' && host.layout === 'unified');
  const out: Record<string, unknown> = {};
  const leftOut: LeftOut[] = [];
  for (const [key, value] of Object.entries(resources)) {
    if (key === 'cpu' && value && typeof value === 'object') {
      const cpu: Record<string, unknown> = {};
      for (const [field, v] of Object.entries(value)) {
        const controller = CPU_FIELDS[field];
        if (controller && !has(controller)) leftOut.push({ resource: `cpu.${field}`, controller });
        else cpu[field] = v;
      }
      if (Object.keys(cpu).length > 0) out.cpu = cpu;
      continue;
    }
    const controller = RESOURCES[key];
    if (controller && !has(controller)) leftOut.push({ resource: key, controller });
    else out[key] = value;
  }
  return { resources: out, leftOut };
}

/** fitResources, with a debug line for each resource left out, naming `what` (the container). */
export function fitResourcesLogged(resources: Record<string, unknown>, host: Pick<CgroupHost, 'layout' | 'controllers'>, log: Logger, what: Record<string, string>): Record<string, unknown> {
  const fitted = fitResources(resources, host);
  for (const l of fitted.leftOut) {
    log.debug('resource left out: the host has no cgroup controller for it', { ...what, resource: l.resource, controller: l.controller, layout: host.layout });
  }
  return fitted.resources;
}
