import { invalidArgument } from '../errors.js';
import { DEFAULT_NAMESPACE } from '../sandbox/object-namespace.js';

/**
 * The request metadata naming the caller's namespace, as containerd's `containerd-namespace`
 * header. kubelet and crictl send none: theirs is `k8s.io`. Coracle's CLI sends `coracle.cli`.
 */
export const NAMESPACE_METADATA = 'coracle-namespace';

/** At most as long as a DNS label; dot-separated lowercase labels, as `k8s.io`. */
const MAX_NAMESPACE_LENGTH = 63;
const NAMESPACE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** The namespace a header value names; none is `k8s.io`; anything else not a name is INVALID_ARGUMENT. */
export function namespaceFromHeader(value: string | undefined): string {
  if (value === undefined) return DEFAULT_NAMESPACE;
  if (value.length > MAX_NAMESPACE_LENGTH || !NAMESPACE.test(value)) {
    throw invalidArgument(`${NAMESPACE_METADATA} ${JSON.stringify(value.slice(0, 80))}: not a namespace name (dot-separated lowercase letters, digits and dashes, at most ${MAX_NAMESPACE_LENGTH} characters)`);
  }
  return value;
}
