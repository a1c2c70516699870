import assert from 'node:assert/strict';
import { malformed } from '../../src/util/h2-request-check.js';

describe('util/h2-request-check: malformed requests (RFC 9113 8.2-8.3)', () => {
  const base = [
    { name: ':method', value: 'POST' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: '/x' },
  ];
  const cases: { name: string; fields: { name: string; value: string }[]; why: RegExp | undefined }[] = [
    { name: 'a well-formed request, any authority', fields: [...base, { name: ':authority', value: '/run/coracle.sock' }, { name: 'te', value: 'trailers' }], why: undefined },
    { name: 'an upper-case name', fields: [...base, { name: 'X-Upper', value: 'a' }], why: /not lower-case/ },
    { name: 'a pseudo-header after a regular one', fields: [base[0]!, { name: 'a', value: 'b' }, base[1]!, base[2]!], why: /after a regular/ },
    { name: 'a response pseudo-header', fields: [...base, { name: ':status', value: '200' }], why: /:status not allowed/ },
    { name: 'a pseudo-header twice', fields: [...base, base[2]!], why: /:path not allowed/ },
    { name: 'no :path', fields: [base[0]!, base[1]!], why: /no :path/ },
    { name: 'a connection header', fields: [...base, { name: 'connection', value: 'keep-alive' }], why: /connection-specific/ },
    { name: 'te other than trailers', fields: [...base, { name: 'te', value: 'gzip' }], why: /te: gzip/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const why = malformed(c.fields);
      if (c.why === undefined) assert.equal(why, undefined);
      else assert.match(why ?? '', c.why);
    });
  }
});
