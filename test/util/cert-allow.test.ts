import assert from 'node:assert/strict';
import { certAllowList, describeSubject, parsePeerSans, parseSanEntry, parseSubjectEntry } from '../../src/util/cert-allow.js';

describe('util/cert-allow', () => {
  it('parses Node\'s subjectaltname, JSON-quoted values included', () => {
    assert.deepEqual(parsePeerSans('DNS:Ops.Example, URI:spiffe://c/ops, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.5, email:a@b.c, URI:"http://x/a, DNS:evil"'), [
      { type: 'DNS', value: 'ops.example' },
      { type: 'URI', value: 'spiffe://c/ops' },
      { type: 'IP', value: '[::1]' },
      { type: 'IP', value: '10.0.0.5' },
      { type: 'email', value: 'a@b.c' },
      { type: 'URI', value: 'http://x/a, DNS:evil' },
    ]);
    assert.deepEqual(parsePeerSans(undefined), []);
  });

  it('parses subject entries with escaped commas, and refuses malformed entries', () => {
    assert.deepEqual(parseSubjectEntry('CN=admin, O=Ops\\, Inc'), [['CN', 'admin'], ['O', 'Ops, Inc']]);
    assert.throws(() => parseSubjectEntry('CN='), /CN has an empty value/);
    assert.throws(() => parseSubjectEntry('=x'), /each part must be ATTR=value/);
    assert.deepEqual(parseSanEntry('IP:::1'), { type: 'IP', value: '[::1]' });
    assert.throws(() => parseSanEntry('IP:300.1.1.1'), /not an IP address/);
  });

  it('allows a certificate matching any entry, and none that only looks like one', () => {
    const allow = certAllowList(['CN=admin,O=Ops'], ['DNS:ops.example', 'URI:spiffe://c/ops']);
    assert.equal(allow.open, false);
    const peer = (subject: Record<string, string | string[]>, san?: string) => ({ subject, subjectaltname: san });
    assert.equal(allow.allows(peer({ CN: 'admin', O: 'Ops', OU: 'x' })), true, 'every pair present, others allowed');
    assert.equal(allow.allows(peer({ CN: 'admin' })), false, 'a pair missing');
    assert.equal(allow.allows(peer({ CN: 'admin', O: ['Dev', 'Ops'] })), true, 'a repeated attribute');
    assert.equal(allow.allows(peer({ CN: 'x' }, 'DNS:OPS.example')), true);
    assert.equal(allow.allows(peer({ CN: 'x' }, 'DNS:*.example')), false, 'no wildcard matching');
    assert.equal(allow.allows(peer({ CN: 'x' }, 'URI:"spiffe://c/ops, DNS:ops.example"')), false, 'a quoted value is one name');
    assert.equal(allow.allows(peer({ CN: 'x' }, 'URI:spiffe://c/ops/more')), false);
    assert.equal(allow.allows({ subject: undefined, subjectaltname: undefined }), false);
    assert.equal(certAllowList([], []).allows({ subject: undefined, subjectaltname: undefined }), true);
    assert.equal(describeSubject({ CN: 'a', OU: ['x', 'y'] }), 'CN=a, OU=x, OU=y');
  });
});
