import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import {
  formatReference,
  isImageId,
  parseReference,
  repoDigest,
  repoName,
  repoTag,
  type ImageReference,
} from '../../src/image/reference.js';

const HEX = '7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa';
const DIGEST = `sha256:${HEX}`;

describe('image/reference', () => {
  // [text, fully qualified form, registry, repository]
  const good: [string, string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'docker.io', 'library/busybox'],
    ['busybox:1.29', 'docker.io/library/busybox:1.29', 'docker.io', 'library/busybox'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'docker.io', 'library/busybox'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'docker.io', 'library/busybox'],
    ['docker.io/library/busybox:musl', 'docker.io/library/busybox:musl', 'docker.io', 'library/busybox'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'docker.io', 'library/busybox'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'docker.io', 'library/busybox'],
    ['registry-1.docker.io/foo/bar:v2', 'docker.io/foo/bar:v2', 'docker.io', 'foo/bar'],
    ['foo/bar', 'docker.io/foo/bar:latest', 'docker.io', 'foo/bar'],
    ['foo/bar/baz:1', 'docker.io/foo/bar/baz:1', 'docker.io', 'foo/bar/baz'],
    ['gcr.io/google-containers/pause:3.2', 'gcr.io/google-containers/pause:3.2', 'gcr.io', 'google-containers/pause'],
    ['registry.k8s.io/e2e-test-images/busybox:1.29-2', 'registry.k8s.io/e2e-test-images/busybox:1.29-2', 'registry.k8s.io', 'e2e-test-images/busybox'],
    ['registry.k8s.io/pause', 'registry.k8s.io/pause:latest', 'registry.k8s.io', 'pause'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost', 'foo'],
    ['localhost:5000/foo/bar:v1', 'localhost:5000/foo/bar:v1', 'localhost:5000', 'foo/bar'],
    ['127.0.0.1:5000/pause:3.9', '127.0.0.1:5000/pause:3.9', '127.0.0.1:5000', 'pause'],
    ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000', 'x'],
    ['[fd00::1]/x/y:z', '[fd00::1]/x/y:z', '[fd00::1]', 'x/y'],
    ['myhost:5000/x', 'myhost:5000/x:latest', 'myhost:5000', 'x'],
    // Upstream reads an uppercase first component as a host: repositories cannot be uppercase.
    ['Example/foo', 'Example/foo:latest', 'Example', 'foo'],
    // A lone component is never a host, whatever it looks like.
    ['localhost', 'docker.io/library/localhost:latest', 'docker.io', 'library/localhost'],
    ['localhost:5000', 'docker.io/library/localhost:5000', 'docker.io', 'library/localhost'],
    [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`, 'docker.io', 'library/busybox'],
    [`busybox:1.36@${DIGEST}`, `docker.io/library/busybox:1.36@${DIGEST}`, 'docker.io', 'library/busybox'],
    [`quay.io/a/b@${DIGEST}`, `quay.io/a/b@${DIGEST}`, 'quay.io', 'a/b'],
    ['ab/c_d__e--f.g:Tag_1.x-Y', 'docker.io/ab/c_d__e--f.g:Tag_1.x-Y', 'docker.io', 'ab/c_d__e--f.g'],
    ['busybox:_under', 'docker.io/library/busybox:_under', 'docker.io', 'library/busybox'],
    [`busybox:${'t'.repeat(128)}`, `docker.io/library/busybox:${'t'.repeat(128)}`, 'docker.io', 'library/busybox'],
    [`busybox:${HEX}`, `docker.io/library/busybox:${HEX}`, 'docker.io', 'library/busybox'],
    [`x.io/${'a'.repeat(255)}`, `x.io/${'a'.repeat(255)}:latest`, 'x.io', 'a'.repeat(255)],
  ];
  for (const [text, full, registry, repository] of good) {
    it(`parses ${text}`, () => {
      const ref = parseReference(text);
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(formatReference(ref), full);
    });
  }

  const bad: [string, RegExp][] = [
    ['', /empty reference/],
    ['Foo', /must be lowercase/],
    ['foo/Bar', /must be lowercase/],
    ['gcr.io/Foo/bar:1', /must be lowercase/],
    ['busy box', /whitespace/],
    [' busybox', /whitespace/],
    ['busybox\n', /whitespace/],
    ['a:', /missing tag/],
    ['a@', /missing digest/],
    [':tag', /missing repository name/],
    [`@${DIGEST}`, /missing repository name/],
    [HEX, /image id/],
    [DIGEST, /image id/],
    [`busybox@sha256:${HEX.slice(1)}`, /invalid digest: only sha256 with 64 hex digits/],
    [`busybox@sha256:${HEX}0`, /invalid digest/],
    [`busybox@sha256:${HEX.toUpperCase()}`, /invalid digest/],
    [`busybox@sha512:${HEX}${HEX}`, /invalid digest/],
    [`busybox@md5:${HEX.slice(32)}`, /invalid digest/],
    [`busybox@${HEX}`, /invalid digest/],
    [`busybox:${'t'.repeat(129)}`, /tag must not be more than 128 characters/],
    ['busybox:.hidden', /invalid tag/],
    ['busybox:-dash', /invalid tag/],
    ['busybox:a:b', /invalid tag/],
    ['busybox:a+b', /invalid tag/],
    ['myhost:abc/foo', /registry port must be numeric/],
    ['myhost:/foo', /registry port must be numeric/],
    ['localhost:5000:1/foo', /registry port must be numeric/],
    ['-bad.io/foo', /invalid registry host/],
    ['bad_host.io/foo', /invalid registry host/],
    [':5000/foo', /invalid registry host/],
    ['[::1/foo', /invalid registry host/],
    ['[::1]x:5000/foo', /invalid registry host/],
    ['[fe80::1%eth0]/foo', /invalid registry host/],
    ['foo//bar', /invalid repository path component ""/],
    ['foo/', /invalid repository path component ""/],
    ['docker.io/', /invalid repository path component ""/],
    ['/foo', /invalid repository path component ""/],
    ['-foo', /invalid repository path component "-foo"/],
    ['foo_', /invalid repository path component "foo_"/],
    ['foo...bar', /invalid repository path component/],
    ['foo___bar', /invalid repository path component/],
    ['foo/bar:tag/baz', /invalid repository path component "bar:tag"/],
    ['foo@bar@' + DIGEST, /invalid digest/],
    [`x.io/${'a'.repeat(256)}`, /repository name must not be more than 255 characters/],
    // "library/" counts towards the limit, as upstream measures the normalised path.
    ['a'.repeat(250), /must not be more than 255 characters/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`, () => {
      assert.throws(
        () => parseReference(text),
        (err: unknown) =>
          err instanceof CoracleError &&
          err.code === 'INVALID_ARGUMENT' &&
          err.message.startsWith(`image reference "${text}": `) &&
          re.test(err.message),
      );
    });
  }

  it('defaults the tag to latest only when there is neither tag nor digest', () => {
    assert.equal(parseReference('busybox').tag, 'latest');
    assert.deepEqual(parseReference(`busybox@${DIGEST}`), {
      registry: 'docker.io',
      repository: 'library/busybox',
      digest: DIGEST,
    });
    assert.deepEqual(parseReference(`busybox:1@${DIGEST}`), {
      registry: 'docker.io',
      repository: 'library/busybox',
      tag: '1',
      digest: DIGEST,
    });
  });

  it('round-trips every fully qualified form', () => {
    for (const [, full] of good) {
      assert.equal(formatReference(parseReference(full)), full);
    }
  });

  const forms: [ImageReference, string, string | undefined][] = [
    [{ registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }, 'docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    [{ registry: '[::1]:5000', repository: 'x', digest: DIGEST }, '[::1]:5000/x', undefined],
    [{ registry: 'reg.io', repository: 'a/b', tag: 'v1', digest: DIGEST }, 'reg.io/a/b', 'reg.io/a/b:v1'],
  ];
  for (const [ref, name, tagged] of forms) {
    it(`formats ${formatReference(ref)}`, () => {
      assert.equal(repoName(ref), name);
      assert.equal(repoTag(ref), tagged);
      assert.equal(repoDigest(ref, DIGEST), `${name}@${DIGEST}`);
    });
  }
  it('formats tag and digest together', () => {
    assert.equal(formatReference(forms[2][0]), `reg.io/a/b:v1@${DIGEST}`);
    assert.equal(formatReference(forms[1][0]), `[::1]:5000/x@${DIGEST}`);
  });

  const ids: [string, boolean][] = [
    [HEX, true],
    [DIGEST, true],
    [HEX.toUpperCase(), false],
    [`sha256:${HEX.slice(1)}`, false],
    [`${HEX}0`, false],
    [`sha512:${HEX}`, false],
    [`sha256:${HEX.toUpperCase()}`, false],
    ['busybox', false],
    ['', false],
  ];
  for (const [text, expected] of ids) {
    it(`isImageId(${JSON.stringify(text)}) is ${expected}`, () => {
      assert.equal(isImageId(text), expected);
    });
  }
});
