import assert from 'node:assert/strict';
import { basicHeader, parseChallenge } from '../../src/image/registry-auth.js';

describe('image/registry-auth', () => {
  const cases: [string | undefined, ReturnType<typeof parseChallenge>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ],
    ['Basic realm="coracle-test"', { scheme: 'basic', params: { realm: 'coracle-test' } }],
    ['bearer realm=https://x/token, service=reg', { scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } }],
    ['Bearer realm="a\\"b"', { scheme: 'bearer', params: { realm: 'a"b' } }],
    ['Negotiate abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [header, want] of cases) {
    it(`parses ${JSON.stringify(header)}`, () => assert.deepEqual(parseChallenge(header), want));
  }
  it('builds a basic header from a user and password', () => {
    assert.equal(basicHeader({ username: 'alice', password: 's:cret' }), `Basic ${Buffer.from('alice:s:cret').toString('base64')}`);
    assert.equal(basicHeader({ registryToken: 't' }), undefined);
  });
});
