import { invalidArgument } from '../errors.js';

/**
 * Checks a pod's cgroup parent as kubelet sends it. Coracle is cgroupfs-only (RuntimeConfig
 * says CGROUPFS): a parent is a cgroupfs path such as kubelet's cgroupfs driver gives,
 * `/kubepods/burstable/pod<uid>`, that every container's cgroup goes under. The systemd
 * driver's slice names (`kubepods-besteffort-pod<uid>.slice`) are refused with the setting
 * to change, as are relative paths and `.`/`..` steps, which would put a cgroup elsewhere
 * than under the parent. Empty is fine: containers then go under /coracle.
 */
export function vetCgroupParent(pod: string, parent: string): string {
  if (parent === '') return parent;
  const quoted = JSON.stringify(parent);
  if (!parent.includes('/') && parent.endsWith('.slice')) {
    throw invalidArgument(
      `pod ${pod}: cgroup parent ${quoted} is a systemd slice: Coracle manages cgroups with cgroupfs; ` +
        "set kubelet's cgroupDriver: cgroupfs (KubeletConfiguration) or --cgroup-driver=cgroupfs",
    );
  }
  if (!parent.startsWith('/')) throw invalidArgument(`pod ${pod}: cgroup parent ${quoted} is not an absolute cgroupfs path (one like /kubepods/burstable/pod<uid>)`);
  if (parent.split('/').some((step) => step === '.' || step === '..')) throw invalidArgument(`pod ${pod}: cgroup parent ${quoted} has a "." or ".." step`);
  if (/[\0\n]/.test(parent)) throw invalidArgument(`pod ${pod}: cgroup parent ${quoted} has a NUL or newline`);
  return parent;
}
