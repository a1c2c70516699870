import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type BuiltImage, type ImageConfigSpec, type LayerEntry } from './images.js';
import { startTestRegistry, type TestRegistry } from './test-registry.js';

/** What a suite gets: its registry, and the busybox image pushed there as REPO:v1. */
export interface BusyboxRegistry {
  readonly registry: TestRegistry;
  /** HOST/REPO:v1, to pull. */
  readonly image: string;
  readonly built: BuiltImage;
}

/**
 * A local registry for the enclosing suite, with an image of the host's static busybox pushed
 * to it (`more`: layers on top; `config` and `history`: the image's). Call inside `describe`:
 * the registry starts before the suite's first test and stops after its last. The fields are
 * there from the first test on.
 */
export function busyboxRegistry(
  repo: string,
  spec: { config?: ImageConfigSpec; history?: { created_by: string; empty_layer?: boolean }[]; more?: LayerEntry[][] } = {},
): BusyboxRegistry {
  const fixture = {} as { registry: TestRegistry; image: string; built: BuiltImage };
  before(async () => {
    fixture.registry = await startTestRegistry({ scope: 'suite' });
    const layers = [await buildLayer(await busyboxRootfsEntries()), ...(await Promise.all((spec.more ?? []).map((entries) => buildLayer(entries))))];
    fixture.built = buildImage({ layers, config: spec.config ?? { Env: ['PATH=/bin'], Cmd: ['sh'] }, ...(spec.history ? { history: spec.history } : {}) });
    await pushImage(fixture.registry.url, repo, fixture.built, ['v1']);
    fixture.image = `${fixture.registry.host}/${repo}:v1`;
  });
  after(async () => {
    await fixture.registry?.stop();
  });
  return fixture;
}
