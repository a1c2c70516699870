import { runNative } from '../util/native.js';

/**
 * The wrapper of native/coracle-mount: a container's root is an overlay of its image's
 * layers (nearest first) under a read-write upper dir of its own. Lower dirs are passed
 * relative to the snapshots dir, so that a deep image fits the one-page option limit.
 */
export async function mountRootfs(o: { target: string; upper: string; work: string; lowerRoot: string; lowers: string[] }, what: string): Promise<void> {
  await runNative('coracle-mount', ['-t', o.target, '-u', o.upper, '-w', o.work, '-C', o.lowerRoot, '-l', o.lowers.join(':')], what);
}

export async function unmountRootfs(target: string, what: string): Promise<void> {
  await runNative('coracle-mount', ['-U', target], what);
}
