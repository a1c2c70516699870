import { runNative } from './native.js';

/**
 * The wrapper of native/coracle-mount. A container's root is an overlay of its image's
 * layers (nearest first) under a read-write upper dir of its own; lower dirs are passed
 * relative to the snapshots dir, so that a deep image fits the one-page option limit.
 */
export async function mountRootfs(o: { target: string; upper: string; work: string; lowerRoot: string; lowers: string[] }, what: string): Promise<void> {
  await runNative('coracle-mount', ['-t', o.target, '-u', o.upper, '-w', o.work, '-C', o.lowerRoot, '-l', o.lowers.join(':')], what);
}

/** Unmounts whatever `coracle-mount` mounted at `target`; nothing there is no error. */
export async function unmount(target: string, what: string): Promise<void> {
  await runNative('coracle-mount', ['-U', target], what);
}

/** A pod's /dev/shm: one tmpfs its containers share, as they share its ipc namespace. */
export async function mountShm(target: string, sizeBytes: number, what: string): Promise<void> {
  await runNative('coracle-mount', ['-T', target, '-s', String(sizeBytes)], what);
}
