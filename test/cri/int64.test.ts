import assert from 'node:assert/strict';
import Long from 'long';
import { int64 } from '../../src/cri/int64.js';

describe('cri/int64: int64 and uint64 values as their two halves', () => {
  const table: { name: string; value: bigint | string; unsigned?: boolean }[] = [
    { name: 'zero', value: '0' },
    { name: 'a nanosecond timestamp of 2026', value: '1796177880123456789' },
    { name: 'past 2^53, as every CRI timestamp is', value: 9007199254740993n },
    { name: 'just under 2^32', value: 4294967295n },
    { name: '2^32', value: 4294967296n },
    { name: 'the int64 maximum', value: '9223372036854775807' },
    { name: 'a negative int64', value: '-1' },
    { name: 'the int64 minimum', value: -9223372036854775808n },
    { name: 'a uint64 above the int64 maximum', value: 18446744073709551615n, unsigned: true },
    { name: 'a uint64 size', value: 5_000_000n, unsigned: true },
  ];
  for (const t of table) {
    it(t.name, () => {
      const got = int64(t.value, t.unsigned);
      // long.js, as protobufjs uses it, must read back the very value.
      const back = Long.fromBits(got.low, got.high, got.unsigned).toString();
      assert.equal(back, BigInt(t.value).toString());
      assert.equal(got.unsigned, t.unsigned ?? false);
    });
  }
});
