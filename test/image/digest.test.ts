import assert from 'node:assert/strict';
import { chainIds, digestHex, sha256Digest } from '../../src/image/digest.js';

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('image/digest', () => {
  it('chain IDs follow the OCI definition', () => {
    const [a, b, c] = [d(1), d(2), d(3)];
    const ab = sha256Digest(`${a} ${b}`);
    assert.deepEqual(chainIds([a, b, c]), [a, ab, sha256Digest(`${ab} ${c}`)]);
    assert.deepEqual(chainIds([]), []);
  });
  it('refuses anything but sha256 for file names', () => {
    assert.equal(digestHex(d(5)), d(5).slice(7));
    for (const bad of ['sha512:' + 'a'.repeat(128), 'sha256:../../etc', d(1).toUpperCase(), 'abc']) {
      assert.throws(() => digestHex(bad), /not a sha256 digest/);
    }
  });
});
