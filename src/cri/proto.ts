import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from '../generated/api.js';
import type { ProtoGrpcType as CoracleProtoType } from '../generated/coracle.js';

export const CRI_PROTO_PATH = fileURLToPath(new URL('../../../proto/api.proto', import.meta.url));
export const CORACLE_PROTO_PATH = fileURLToPath(new URL('../../../proto/coracle.proto', import.meta.url));

/**
 * int64 fields (timestamps in ns, sizes) arrive as strings: a JS number loses precision past
 * 2^53 and CRI timestamps are already past it. Handlers convert them with BigInt at the edge.
 * The generated types in src/generated are made with these same options.
 */
export const CRI_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function loadCriProto(): ProtoGrpcType {
  const definition = protoLoader.loadSync(CRI_PROTO_PATH, CRI_LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}

export function loadCoracleProto(): CoracleProtoType {
  const definition = protoLoader.loadSync(CORACLE_PROTO_PATH, CRI_LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as CoracleProtoType;
}
