import { buildImage, buildLayer, pushImage, type BuiltImage } from './images.js';
import { startTestRegistry, type TestRegistry } from './test-registry.js';
import { startTokenServer, type TokenServer } from './token-server.js';

/**
 * A registry that takes only tokens of `tokens` (user bob, password hunter2), an image pushed
 * to it as tok/img:v1, and the token server in front of it: through `tokens.url` the realm is
 * on the registry's own host:port.
 */
export async function startTokenRegistry(): Promise<{ tokens: TokenServer; registry: TestRegistry; image: BuiltImage }> {
  const tokens = await startTokenServer({ bob: 'hunter2' });
  const registry = await startTestRegistry({ token: tokens });
  const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 't', content: 'token' }])] });
  await pushImage(registry.url, 'tok/img', image, ['v1'], { bearer: tokens.issue('bob', 'repository:tok/img:pull,push') });
  tokens.front(registry.url);
  return { tokens, registry, image };
}
