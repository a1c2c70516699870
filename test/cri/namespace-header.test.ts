import assert from 'node:assert/strict';
import fc from 'fast-check';
import { namespaceFromHeader } from '../../src/cri/namespace-header.js';
import { CoracleError } from '../../src/errors.js';

describe('cri/namespace-header: the namespace a coracle-namespace header names', () => {
  it('no header is kubelet\'s k8s.io; a name is itself', () => {
    assert.equal(namespaceFromHeader(undefined), 'k8s.io');
    for (const ns of ['k8s.io', 'coracle.cli', 'a', 'x-1.y-2', 'a'.repeat(63)]) assert.equal(namespaceFromHeader(ns), ns);
  });

  it('anything else is INVALID_ARGUMENT, naming the header and the value', () => {
    for (const bad of ['', 'K8s.io', 'a..b', '.a', 'a.', '-a', 'a-', 'a_b', 'a/b', 'a b', 'a\0b', 'a'.repeat(64), 'é']) {
      assert.throws(() => namespaceFromHeader(bad), (err: unknown) => {
        assert.ok(err instanceof CoracleError, String(err));
        assert.equal(err.code, 'INVALID_ARGUMENT', JSON.stringify(bad));
        assert.match((err as Error).message, /^coracle-namespace ".*": not a namespace name/);
        return true;
      });
    }
  });

  it('any value is itself, or INVALID_ARGUMENT: never another namespace, never another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z0-9.-]{1,70}$/)), (v) => {
        let got: string;
        try {
          got = namespaceFromHeader(v);
        } catch (err) {
          return err instanceof CoracleError && err.code === 'INVALID_ARGUMENT';
        }
        return got === v && v.length <= 63 && !v.startsWith('.') && !v.includes('..');
      }),
      { numRuns: 2000 },
    );
  });
});
