import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { CORACLE_PROTO_PATH, CRI_PROTO_PATH, encodeAhead } from '../../src/cri/proto.js';
import { loadCoracleProto, loadCriProto } from '../../src/cri/proto-clients.js';

/**
 * src/cri/proto.ts builds the services' codecs itself from the JSON form of the .proto (to
 * keep proto-loader out of the daemon). These tests hold them to proto-loader's, which the
 * daemon used before and which CRI clients elsewhere match: the same bytes for every message
 * of every method, and the same object back from them.
 */

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const SCALARS: Record<string, fc.Arbitrary<unknown>> = {
  string: fc.string({ maxLength: 8 }),
  bool: fc.boolean(),
  bytes: fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
  double: fc.double({ noNaN: true }),
  float: fc.float({ noNaN: true }),
  int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  uint32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  sint32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fixed32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  sfixed32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  // int64s as CRI sends them (strings, past 2^53 too) and as plain numbers.
  int64: fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String), fc.integer()),
  uint64: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), fc.nat()),
  sint64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fixed64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  sfixed64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
};

/** Any message of `type`, as a client would hand it over: some fields set, nested to `depth`. */
function messageArbitrary(type: protobuf.Type, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    let value: fc.Arbitrary<unknown> | undefined;
    if (field.resolvedType instanceof protobuf.Enum) value = fc.constantFrom(...Object.keys(field.resolvedType.values));
    else if (field.resolvedType instanceof protobuf.Type) value = depth > 0 ? messageArbitrary(field.resolvedType, depth - 1) : undefined;
    else value = SCALARS[field.type];
    if (!value) continue;
    if (field instanceof protobuf.MapField) fields[field.name] = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), value, { maxKeys: 3 });
    else if (field.repeated) fields[field.name] = fc.array(value, { maxLength: 3 });
    else fields[field.name] = value;
  }
  return fc.record(fields, { requiredKeys: [] });
}

/** Compares each method's codecs; returns how many of the messages tried encoded to some bytes. */
function compare(ours: grpc.ServiceDefinition, theirs: grpc.ServiceDefinition, root: protobuf.Root, service: string): number {
  let nonEmpty = 0;
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), `${service}: the same methods`);
  for (const [name, method] of Object.entries(ours)) {
    const other = theirs[name]!;
    assert.equal(method.path, other.path);
    assert.equal(method.requestStream, other.requestStream, `${name}: requestStream`);
    assert.equal(method.responseStream, other.responseStream, `${name}: responseStream`);
    assert.equal(method.originalName, other.originalName, `${name}: originalName`);
    const m = root.lookup(`${service}.${name}`) as protobuf.Method;
    m.resolve();
    for (const [type, enc, dec, encOther, decOther] of [
      [m.resolvedRequestType!, method.requestSerialize, method.requestDeserialize, other.requestSerialize, other.requestDeserialize],
      [m.resolvedResponseType!, method.responseSerialize, method.responseDeserialize, other.responseSerialize, other.responseDeserialize],
    ] as const) {
      fc.assert(
        fc.property(messageArbitrary(type, 3), (value) => {
          const bytes = enc(value);
          if (bytes.length > 0) nonEmpty++;
          assert.deepEqual(bytes, encOther(value), `${name}: ${type.name} encodes as proto-loader encodes it`);
          // A response's message fields are remembered by object (encodeWithRemembered): the
          // same objects again, and a list that holds one object twice, give the same bytes.
          assert.deepEqual(enc(value), bytes, `${name}: ${type.name} encoded a second time`);
          const doubled = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Array.isArray(v) ? [...v, ...v] : v]));
          assert.deepEqual(enc(doubled), encOther(doubled), `${name}: ${type.name} with its lists doubled`);
          assert.deepEqual(dec(bytes), decOther(bytes), `${name}: ${type.name} decodes as proto-loader decodes it`);
        }),
        { numRuns: 30 },
      );
    }
  }
  return nonEmpty;
}

describe('cri/proto: the services from the .proto JSON, against proto-loader', () => {
  it('RuntimeService and ImageService: the same paths, streams and codecs', () => {
    const theirs = protoLoader.loadSync(CRI_PROTO_PATH, LOADER_OPTIONS);
    const root = new protobuf.Root().loadSync(CRI_PROTO_PATH, { keepCase: true });
    const ours = loadCriProto().runtime.v1;
    const runtime = compare(ours.RuntimeService.service, theirs['runtime.v1.RuntimeService'] as grpc.ServiceDefinition, root, 'runtime.v1.RuntimeService');
    const image = compare(ours.ImageService.service, theirs['runtime.v1.ImageService'] as grpc.ServiceDefinition, root, 'runtime.v1.ImageService');
    // Most messages tried carry fields (the generator knows the field names): not empty ones only.
    assert.ok(runtime > 1000 && image > 200, `${runtime} and ${image} messages had fields`);
  });

  it('a response whose messages hold remembered ones at depth (stats: attributes) gives the bytes proto-loader gives', () => {
    const theirs = protoLoader.loadSync(CRI_PROTO_PATH, LOADER_OPTIONS)['runtime.v1.RuntimeService'] as grpc.ServiceDefinition;
    const ours = loadCriProto().runtime.v1.RuntimeService.service as grpc.ServiceDefinition;
    const u = (n: number): { value: string } => ({ value: String(n) });
    const pod = (i: number): Record<string, unknown> => ({ id: `pod${i}`, metadata: { name: `p${i}`, uid: `u${i}`, namespace: 'ns', attempt: i }, labels: { app: `p${i}` }, annotations: { a: 'b' } });
    const container = (i: number): Record<string, unknown> => ({ id: `c${i}`, metadata: { name: 'c', attempt: 0 }, labels: {}, annotations: { k: `v${i}` } });
    // Remembered, as the stats handlers remember them; one of each is not.
    const pods = [encodeAhead('runtime.v1.PodSandboxAttributes', pod(0)), encodeAhead('runtime.v1.PodSandboxAttributes', pod(1)), pod(2)];
    const containers = [encodeAhead('runtime.v1.ContainerAttributes', container(0)), container(1)];
    const stats = (i: number): Record<string, unknown> => ({
      attributes: pods[i],
      linux: {
        cpu: { timestamp: '1700000000000000000', usage_core_nano_seconds: u(i * 1000) },
        memory: { timestamp: '1', working_set_bytes: u(i), usage_bytes: u(2 ** 40) },
        containers: containers.map((attributes, k) => ({ attributes, cpu: { timestamp: '2', usage_nano_cores: u(k) }, writable_layer: { fs_id: { mountpoint: `/m${k}` }, used_bytes: u(4096) } })),
      },
    });
    const list = { stats: [stats(0), stats(1), stats(2), stats(0)] };
    for (const [name, response] of [
      ['ListPodSandboxStats', list],
      ['PodSandboxStats', { stats: stats(1) }],
      ['ListContainerStats', { stats: (list.stats[0]!.linux as { containers: unknown[] }).containers }],
    ] as const) {
      const bytes = ours[name]!.responseSerialize(response);
      assert.deepEqual(bytes, theirs[name]!.responseSerialize(response), name);
      assert.deepEqual(ours[name]!.responseSerialize(response), bytes, `${name}, a second time`);
      assert.deepEqual(ours[name]!.responseDeserialize(bytes), theirs[name]!.responseDeserialize(bytes), `${name}: decoded`);
    }
  });

  it("Coracle's own service: the same paths, streams and codecs", () => {
    const theirs = protoLoader.loadSync(CORACLE_PROTO_PATH, LOADER_OPTIONS);
    const root = new protobuf.Root().loadSync(CORACLE_PROTO_PATH, { keepCase: true });
    const n = compare(loadCoracleProto().coracle.v1.Coracle.service, theirs['coracle.v1.Coracle'] as grpc.ServiceDefinition, root, 'coracle.v1.Coracle');
    assert.ok(n > 200, `${n} messages had fields`);
  });
});
