import type { RuntimeConfigRequest__Output } from '../generated/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from '../generated/runtime/v1/RuntimeConfigResponse.js';
import type { UnaryHandler } from './wrap.js';

/** Coracle manages cgroups through cgroupfs (no systemd cgroup driver). */
export function runtimeConfigHandler(): UnaryHandler<RuntimeConfigRequest__Output, RuntimeConfigResponse> {
  return () => ({ linux: { cgroup_driver: 'CGROUPFS' } });
}
