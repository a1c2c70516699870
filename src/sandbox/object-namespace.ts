/**
 * The namespace a pod or container belongs to, as containerd keeps one per object: kubelet's
 * objects are `k8s.io`, the CLI's `coracle.cli`. A client sees only its own namespace's
 * objects (src/cri/namespace-view.ts enforces it). A record without one was written before
 * namespaces existed, when every object was kubelet's: it is `k8s.io`, so no schema bump.
 */
export const DEFAULT_NAMESPACE = 'k8s.io';

export function namespaceOf(r: { namespace?: string | undefined }): string {
  return r.namespace ?? DEFAULT_NAMESPACE;
}
