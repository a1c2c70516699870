import type { VersionRequest__Output } from '../generated/runtime/v1/VersionRequest.js';
import type { VersionResponse } from '../generated/runtime/v1/VersionResponse.js';
import { CORACLE_VERSION, RUNTIME_NAME } from '../version.js';
import type { UnaryHandler } from './wrap.js';

/** The kubelet runtime API version that runtimes report (containerd and CRI-O say 0.1.0). */
const KUBE_RUNTIME_API_VERSION = '0.1.0';

export function versionHandler(): UnaryHandler<VersionRequest__Output, VersionResponse> {
  return () => ({
    version: KUBE_RUNTIME_API_VERSION,
    runtime_name: RUNTIME_NAME,
    runtime_version: CORACLE_VERSION,
    runtime_api_version: 'v1',
  });
}
