import assert from 'node:assert/strict';
import { MEDIA, parseManifestDoc, selectPlatform, type ImageIndex } from '../../src/image/manifest.js';

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('image/manifest', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { mediaType: MEDIA.ociManifest, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: MEDIA.ociManifest, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MEDIA.ociManifest, digest: d(3), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
      { mediaType: 'application/vnd.in-toto+json', digest: d(4), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  const cases: [string, { os: string; architecture: string; variant?: string }, string | RegExp][] = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, d(2)],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }, d(1)],
    ['linux/arm64 without variant', { os: 'linux', architecture: 'arm64' }, d(1)],
    ['linux/s390x', { os: 'linux', architecture: 's390x' }, /no manifest for linux\/s390x \(the index has linux\/arm64\/v8, linux\/amd64, windows\/amd64, unknown\/unknown\)/],
  ];
  for (const [what, platform, want] of cases) {
    it(`selects ${what}`, () => {
      if (typeof want === 'string') assert.equal(selectPlatform(index, platform, 'x').digest, want);
      else assert.throws(() => selectPlatform(index, platform, 'x'), want);
    });
  }
  it('tells an index from a manifest by media type, in the body or the response', () => {
    const m = { schemaVersion: 2, config: { mediaType: MEDIA.dockerConfig, digest: d(1), size: 2 }, layers: [] };
    assert.equal(parseManifestDoc(Buffer.from(JSON.stringify(m)), MEDIA.dockerManifest, 'x').kind, 'manifest');
    assert.equal(parseManifestDoc(Buffer.from(JSON.stringify({ ...m, mediaType: MEDIA.ociManifest })), undefined, 'x').kind, 'manifest');
    assert.equal(parseManifestDoc(Buffer.from(JSON.stringify(index)), undefined, 'x').kind, 'index');
    assert.throws(() => parseManifestDoc(Buffer.from('{"schemaVersion":1}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'x'), /unsupported manifest type/);
    assert.throws(() => parseManifestDoc(Buffer.from('nope'), undefined, 'm'), /m: not JSON/);
    assert.throws(() => parseManifestDoc(Buffer.from(JSON.stringify({ ...m, config: { ...m.config, digest: 'sha256:xyz' } })), MEDIA.ociManifest, 'm'), /m: config\.digest: not a sha256 digest/);
  });
});
