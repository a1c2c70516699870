import type { AuthConfig__Output } from '../generated/runtime/v1/AuthConfig.js';
import type { PullImageRequest__Output } from '../generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../generated/runtime/v1/PullImageResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import { serverAddressHost, type RegistryCredentials } from '../image/registry-auth.js';
import { prepareImage, prepared } from './answers.js';
import type { UnaryHandler } from './wrap.js';

/**
 * CRI gives user:password either split or as base64 `auth`; the split form wins. They are
 * for the registry server_address names when it is set (checked here, used by the client).
 */
export function credentialsFromCri(auth: AuthConfig__Output | null): RegistryCredentials | undefined {
  if (!auth) return undefined;
  const out: RegistryCredentials = {};
  if (auth.username) {
    out.username = auth.username;
    out.password = auth.password;
  } else if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalidArgument('auth: "auth" is not base64 of user:password');
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1);
  }
  if (auth.identity_token) out.identityToken = auth.identity_token;
  if (auth.registry_token) out.registryToken = auth.registry_token;
  if (Object.keys(out).length === 0) return undefined;
  if (auth.server_address) {
    serverAddressHost(auth.server_address);
    out.serverAddress = auth.server_address;
  }
  return out;
}

export function pullImageHandler(images: Pick<ImageService, 'pull'>): UnaryHandler<PullImageRequest__Output, PullImageResponse> {
  return async (request, ctx) => {
    const ref = request.image?.image ?? '';
    if (ref === '') throw invalidArgument('PullImage: image reference is empty');
    const image = await images.pull(ref, credentialsFromCri(request.auth), ctx.log, ctx.signal);
    await prepared(() => prepareImage(image), ctx.log);
    return { image_ref: image.id };
  };
}
