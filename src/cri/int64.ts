import type { Long } from '@grpc/proto-loader';

/**
 * An int64 or uint64 field's value in the form protobufjs takes without parsing: its two
 * 32-bit halves. Given a decimal string (how the generated types and the records hold
 * timestamps), protobufjs parses it with long.js digit by digit on every send; a List of 100
 * containers spent a tenth of its time there. BigInt does the parse natively.
 *
 * The generated types name long.js's class, of which protobufjs reads only these three
 * fields (Long.fromValue of an object is fromBits(low, high, unsigned)); long.js is no
 * dependency of ours to make instances with, hence the cast.
 */
export function int64(value: bigint | string, unsigned = false): Long {
  const n = BigInt.asUintN(64, typeof value === 'string' ? BigInt(value) : value);
  return { low: Number(n & 0xffffffffn) | 0, high: Number(n >> 32n) | 0, unsigned } as unknown as Long;
}
