import assert from 'node:assert/strict';
import { endpointsFor, type RegistryHostConfig } from '../../src/image/registry-hosts.js';

describe('image/registry-hosts', () => {
  const hosts: Record<string, RegistryHostConfig> = {
    'docker.io': { mirrors: ['http://127.0.0.1:5000', 'https://mirror.example/'], plain_http: true, no_fallback: false },
    'gcr.io': { mirrors: ['http://127.0.0.1:5000/v2'], plain_http: true, no_fallback: true },
    '127.0.0.1:5001': { mirrors: [], plain_http: true, no_fallback: false },
  };
  const cases: [string, { url: string; mirror: boolean }[]][] = [
    ['docker.io', [
      { url: 'http://127.0.0.1:5000', mirror: true },
      { url: 'https://mirror.example', mirror: true },
      { url: 'https://registry-1.docker.io', mirror: false },
    ]],
    ['gcr.io', [{ url: 'http://127.0.0.1:5000', mirror: true }]],
    ['127.0.0.1:5001', [{ url: 'http://127.0.0.1:5001', mirror: false }]],
    ['quay.io', [{ url: 'https://quay.io', mirror: false }]],
    ['127.0.0.1:5002', [{ url: 'https://127.0.0.1:5002', mirror: false }]],
  ];
  for (const [registry, want] of cases) {
    it(registry, () => assert.deepEqual(endpointsFor(registry, hosts), want));
  }
});
