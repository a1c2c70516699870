import assert from 'node:assert/strict';
import { scopeCredentials } from '../../src/image/registry-auth.js';
import { endpointsFor, type Endpoint, type RegistryHostConfig } from '../../src/image/registry-hosts.js';

describe('image/registry-hosts', () => {
  const hosts: Record<string, RegistryHostConfig> = {
    'docker.io': { mirrors: ['http://127.0.0.1:5000', 'https://mirror.example/'], plain_http: true, no_fallback: false },
    'gcr.io': { mirrors: ['http://127.0.0.1:5000/v2'], plain_http: true, no_fallback: true },
    '127.0.0.1:5001': { mirrors: [], plain_http: true, no_fallback: false },
    '127.0.0.1:5000': { mirrors: [], plain_http: true, no_fallback: false },
    'quay.io': { mirrors: ['http://10.0.0.1:5000'], plain_http: true, no_fallback: false },
  };
  const cases: [string, Endpoint[]][] = [
    ['docker.io', [
      { url: 'http://127.0.0.1:5000', mirror: true, registry: 'docker.io', authHost: '127.0.0.1:5000', credentialsAllowed: true },
      { url: 'https://mirror.example', mirror: true, registry: 'docker.io', authHost: 'mirror.example', credentialsAllowed: true },
      { url: 'https://registry-1.docker.io', mirror: false, registry: 'docker.io', authHost: 'docker.io', credentialsAllowed: true },
    ]],
    ['gcr.io', [{ url: 'http://127.0.0.1:5000', mirror: true, registry: 'gcr.io', authHost: '127.0.0.1:5000', credentialsAllowed: true }]],
    ['127.0.0.1:5001', [{ url: 'http://127.0.0.1:5001', mirror: false, registry: '127.0.0.1:5001', authHost: '127.0.0.1:5001', credentialsAllowed: true }]],
    // An http mirror whose own host is not listed with plain_http is used, but gets no credentials.
    ['quay.io', [
      { url: 'http://10.0.0.1:5000', mirror: true, registry: 'quay.io', authHost: '10.0.0.1:5000', credentialsAllowed: false },
      { url: 'http://quay.io', mirror: false, registry: 'quay.io', authHost: 'quay.io', credentialsAllowed: true },
    ]],
    ['127.0.0.1:5002', [{ url: 'https://127.0.0.1:5002', mirror: false, registry: '127.0.0.1:5002', authHost: '127.0.0.1:5002', credentialsAllowed: true }]],
  ];
  for (const [registry, want] of cases) {
    it(registry, () => assert.deepEqual(endpointsFor(registry, hosts), want));
  }

  it('credentials go to the endpoints of the host they are for, and to a mirror only when given for its host', () => {
    const alice = { username: 'alice', password: 'secret' };
    const [httpMirror, httpsMirror, hub] = endpointsFor('docker.io', hosts) as [Endpoint, Endpoint, Endpoint];
    const sent = (c: typeof alice & { serverAddress?: string }, e: Endpoint): boolean => scopeCredentials(c, e).credentials !== undefined;
    assert.equal(sent(alice, hub), true, 'docker.io credentials to Docker Hub');
    assert.equal(sent({ ...alice, serverAddress: 'https://index.docker.io/v1/' }, hub), true, 'kubelet\'s server_address for Docker Hub');
    assert.equal(sent(alice, httpMirror), false, 'not to an http mirror');
    assert.equal(sent(alice, httpsMirror), false, 'not to an https mirror either');
    assert.equal(sent({ ...alice, serverAddress: 'mirror.example' }, httpsMirror), true, 'to a mirror they are given for');
    assert.equal(sent({ ...alice, serverAddress: 'mirror.example' }, hub), false, 'and then not to Docker Hub');
    assert.equal(sent({ ...alice, serverAddress: '127.0.0.1:5000' }, httpMirror), true, 'an http mirror whose host is listed with plain_http');
    const [unlisted] = endpointsFor('quay.io', hosts) as [Endpoint];
    assert.equal(sent({ ...alice, serverAddress: '10.0.0.1:5000' }, unlisted), false, 'an http mirror whose host is not listed');
    assert.match(scopeCredentials({ ...alice, serverAddress: '10.0.0.1:5000' }, unlisted).withheld ?? '', /not sent over plain http to 10\.0\.0\.1:5000/);
    assert.deepEqual(scopeCredentials(undefined, hub), {});
  });
});
