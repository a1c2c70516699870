import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs/light.js';
import { packagePath } from '../util/package-root.js';

export const CRI_PROTO_PATH = packagePath('proto', 'api.proto');
export const CORACLE_PROTO_PATH = packagePath('proto', 'coracle.proto');

/**
 * int64 fields (timestamps in ns, sizes) arrive as strings: a JS number loses precision past
 * 2^53 and CRI timestamps are already past it. Handlers convert them with BigInt at the edge.
 * Enums arrive as their names, every field is present (defaults), and a oneof names its set
 * member. The generated types in src/generated are made with these same options.
 */
export const CRI_CONVERSION: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** One method of a service, with its codecs: what the server routes by, what clients call with. */
export interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: object): Buffer;
  requestDeserialize(bytes: Buffer): object;
  responseSerialize(value: object): Buffer;
  responseDeserialize(bytes: Buffer): object;
  originalName: string;
}

/** The services of a .proto by full name (runtime.v1.RuntimeService), each its methods by name. */
export type ServiceDefinitions = Record<string, Record<string, MethodDefinition>>;

const loaded = new Map<string, ServiceDefinitions>();

/**
 * The services of a .proto, with their codecs; loaded once per file. Why not proto-loader:
 * it parses the .proto with protobufjs's full build at every start, and keeps the parser,
 * proto-loader and a descriptor.proto reflection of its own loaded: about 3 MiB of a daemon
 * that holds at most a few tens of MiB. `npm run gen` turns each .proto into protobufjs's
 * JSON form (scripts/proto-json.mjs, field names as written), which the light build reads.
 * The codecs are proto-loader's: fromObject then encode, decode then toObject with the
 * conversion options above (test/cri/proto.test.ts checks both against proto-loader's).
 */
export function serviceDefinitions(protoPath: string): ServiceDefinitions {
  const done = loaded.get(protoPath);
  if (done) return done;
  const json = JSON.parse(readFileSync(protoPath.replace(/\.proto$/, '.json'), 'utf8')) as protobuf.INamespace;
  const root = protobuf.Root.fromJSON(json);
  const definition: ServiceDefinitions = {};
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Service) {
        const service = nested.fullName.slice(1);
        definition[service] = Object.fromEntries(nested.methodsArray.map((m) => [m.name, methodDefinition(service, m.resolve() as protobuf.Method)]));
      } else if (nested instanceof protobuf.Namespace) {
        if (nested instanceof protobuf.Type) messageTypes.set(nested.fullName.slice(1), nested);
        walk(nested);
      }
    }
  };
  walk(root);
  loaded.set(protoPath, definition);
  return definition;
}

function methodDefinition(service: string, m: protobuf.Method): MethodDefinition {
  const request = m.resolvedRequestType!;
  const response = m.resolvedResponseType!;
  const serialize = (type: protobuf.Type) => (value: object): Buffer => Buffer.from(type.encode(type.fromObject(value)).finish());
  const serializeResponse = (type: protobuf.Type): ((value: object) => Buffer) => {
    const messageFields = new Set(type.fieldsArray.filter((f) => f.resolve().resolvedType instanceof protobuf.Type && !f.map));
    if (messageFields.size === 0) return serialize(type);
    const byNumber = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    return (value: object): Buffer => encodeWithRemembered(type, byNumber, messageFields, value as Record<string, unknown>);
  };
  const deserialize = (type: protobuf.Type) => (bytes: Buffer): object => type.toObject(type.decode(bytes), CRI_CONVERSION);
  return {
    path: `/${service}/${m.name}`,
    requestStream: m.requestStream === true,
    responseStream: m.responseStream === true,
    requestSerialize: serialize(request),
    requestDeserialize: deserialize(request),
    responseSerialize: serializeResponse(response),
    responseDeserialize: deserialize(response),
    // grpc-js adds the lowerCamelCase name to clients too, as proto-loader has it.
    originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
  };
}

/** The encoding of each message object a response has held, by its type and the object: see identityMemo. */
const remembered = new Map<protobuf.Type, WeakMap<object, Uint8Array>>();
/** The message types of the loaded .protos, by full name (runtime.v1.Image), for encodeAhead. */
const messageTypes = new Map<string, protobuf.Type>();

/**
 * Encodes `value`, a message of type `typeName` that a response will hold, now rather than
 * in that response (src/cri/answers.ts). A name no loaded .proto has is a programming error.
 */
export function encodeAhead(typeName: string, value: object): void {
  const type = messageTypes.get(typeName);
  if (!type) throw new Error(`encodeAhead: no message type ${typeName} is loaded`);
  encodedMessage(type, value);
}

function encodedMessage(type: protobuf.Type, value: object): Uint8Array {
  let ofType = remembered.get(type);
  if (!ofType) remembered.set(type, (ofType = new WeakMap()));
  let bytes = ofType.get(value);
  if (!bytes) {
    // A copy of its own: finish() may hand out a slice of a shared 8 KiB pool, which a kept
    // slice would keep alive whole.
    bytes = Uint8Array.prototype.slice.call(type.encode(type.fromObject(value)).finish());
    ofType.set(value, bytes);
  }
  return bytes;
}

/**
 * A response whose message fields (the records of a List, the image of an ImageStatus) are
 * encoded once per object and then copied: fromObject and encode of 100 containers with
 * their labels was most of a ListContainers. Field by field in the order protobufjs's own
 * encoder takes (by field number), so the bytes are the ones it would write.
 */
function encodeWithRemembered(type: protobuf.Type, byNumber: protobuf.Field[], messageFields: Set<protobuf.Field>, value: Record<string, unknown>): Buffer {
  const parts: Uint8Array[] = [];
  for (const f of byNumber) {
    const v = value[f.name];
    if (v === undefined || v === null) continue;
    if (!messageFields.has(f)) {
      parts.push(type.encode(type.fromObject({ [f.name]: v })).finish());
      continue;
    }
    const w = protobuf.Writer.create();
    const elementType = f.resolvedType as protobuf.Type;
    // Field number and wire type 2 (length-delimited), then the length and the bytes.
    for (const element of f.repeated ? (v as object[]) : [v as object]) w.uint32((f.id << 3) | 2).bytes(encodedMessage(elementType, element));
    parts.push(w.finish());
  }
  return Buffer.concat(parts);
}
