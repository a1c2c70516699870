import assert from 'node:assert/strict';
import { RequestCache } from '../../src/streaming/request-cache.js';

describe('streaming: request cache', () => {
  it('a token is good once, within its TTL', () => {
    let now = 1_000;
    const cache = new RequestCache<string>(60_000, 1000, () => now);
    const a = cache.insert('a');
    assert.match(a, /^[A-Za-z0-9_-]{22}$/, '128 random bits, base64url');
    assert.equal(cache.consume(a), 'a');
    assert.equal(cache.consume(a), undefined, 'single use');
    const b = cache.insert('b');
    now += 60_000;
    assert.equal(cache.consume(b), undefined, 'expired');
    assert.equal(cache.size, 0, 'and taken out');
  });

  it('holds at most maxInFlight, and collects expired entries to make room', () => {
    let now = 0;
    const cache = new RequestCache<number>(10, 2, () => now);
    cache.insert(1);
    cache.insert(2);
    assert.throws(() => cache.insert(3), (e: { code: string }) => e.code === 'RESOURCE_EXHAUSTED');
    now = 10;
    cache.insert(3);
    assert.equal(cache.size, 1);
  });
});
