import * as grpc from '@grpc/grpc-js';

/** The request metadata naming the caller's namespace (the daemon's src/cri/namespace-header.ts). */
export const NAMESPACE_METADATA = 'coracle-namespace';

/**
 * The CLI's containers and pods live in their own namespace, as nerdctl's in containerd's
 * `default`: kubelet (namespace `k8s.io`, no header) neither sees nor touches them, and the CLI
 * never sees kubelet's. Images are shared.
 */
export const CLI_NAMESPACE = 'coracle.cli';

/** Sets the CLI's namespace on every call of a client it is given to (grpc-js `interceptors` option). */
export const cliNamespace: grpc.Interceptor = (options, next) =>
  new grpc.InterceptingCall(next(options), {
    start(metadata, listener, start) {
      metadata.set(NAMESPACE_METADATA, CLI_NAMESPACE);
      start(metadata, listener);
    },
  });
