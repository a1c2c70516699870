import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType } from '../generated/api.js';
import type { ProtoGrpcType as CoracleProtoType } from '../generated/coracle.js';
import { CORACLE_PROTO_PATH, CRI_PROTO_PATH, serviceDefinitions } from './proto.js';

/**
 * The services as grpc-js clients take them (the CLI's, the tests'): the daemon's own server
 * (rpc-server.ts) takes the definitions as they are, and never loads grpc-js. Services only:
 * message types are never looked up through the package.
 */
function clientPackage(protoPath: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(serviceDefinitions(protoPath) as unknown as Parameters<typeof grpc.loadPackageDefinition>[0]);
}

export function loadCriProto(): ProtoGrpcType {
  return clientPackage(CRI_PROTO_PATH) as unknown as ProtoGrpcType;
}

export function loadCoracleProto(): CoracleProtoType {
  return clientPackage(CORACLE_PROTO_PATH) as unknown as CoracleProtoType;
}
