import { mkdir, realpath, stat } from 'node:fs/promises';
import { invalidArgument, isErrno } from '../errors.js';
import type { ContainerMountRecord } from './container-store.js';

/** A bind source as containerd resolves it: symlinks followed, a missing dir made. */
export async function hostPath(m: ContainerMountRecord): Promise<ContainerMountRecord> {
  try {
    return { ...m, hostPath: await realpath(m.hostPath) };
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    await mkdir(m.hostPath, { recursive: true });
    return m;
  }
}

export interface DeviceRequest {
  hostPath: string;
  containerPath: string;
  permissions: string;
}

/** A host device node as the OCI spec lists it; anything else is refused. */
export async function hostDevice(d: DeviceRequest): Promise<{ path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; permissions: string; containerPath: string }> {
  const st = await stat(d.hostPath).catch(() => undefined);
  if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) throw invalidArgument(`device ${d.hostPath}: not a device`);
  const rdev = st.rdev;
  return {
    path: d.hostPath,
    containerPath: d.containerPath || d.hostPath,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major: Math.floor(rdev / 256) & 0xfff,
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    fileMode: st.mode & 0o777,
    permissions: d.permissions || 'rwm',
  };
}
