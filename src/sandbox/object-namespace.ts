/**
 * The namespace a pod or container belongs to, as containerd keeps one per object: kubelet's
 * objects are `k8s.io`, the CLI's `coracle.cli`. A client sees only its own namespace's
 * objects (src/cri/namespace-view.ts enforces it). A record without one was written before
 * namespaces existed: it is `k8s.io`, unless the CLI marked it its own then, so that the
 * CLI's containers of before are still its own (no schema bump: absence says it all).
 */
export const DEFAULT_NAMESPACE = 'k8s.io';

/** The label the CLI put on its pods and containers before namespaces (src/cli/cli-client.ts), and their namespace. */
const LEGACY_CLI_LABEL = 'io.coracle.cli';
const LEGACY_CLI_NAMESPACE = 'coracle.cli';

export function namespaceOf(r: { namespace?: string | undefined; labels: Record<string, string> }): string {
  if (r.namespace !== undefined) return r.namespace;
  return r.labels[LEGACY_CLI_LABEL] === 'true' ? LEGACY_CLI_NAMESPACE : DEFAULT_NAMESPACE;
}
