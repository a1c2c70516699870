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
    if (layoutOf(type).messageFields.size === 0) return serialize(type);
    return (value: object): Buffer => responseBytes(type, value as Record<string, unknown>);
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
 * in that response (src/cri/answers.ts), or that responses will hold again and again (a
 * pod's attributes in each stats call); returns it. A name no loaded .proto has is a
 * programming error.
 */
export function encodeAhead<T extends object>(typeName: string, value: T): T {
  const type = messageTypes.get(typeName);
  if (!type) throw new Error(`encodeAhead: no message type ${typeName} is loaded`);
  encodedMessage(type, value);
  return value;
}

/** The bytes of `value`, a message of `type`, remembered by the object. */
function encodedMessage(type: protobuf.Type, value: object): Uint8Array {
  let ofType = remembered.get(type);
  if (!ofType) {
    remembered.set(type, (ofType = new WeakMap()));
    holds.clear();
  }
  let bytes = ofType.get(value);
  if (!bytes) {
    const w = protobuf.Writer.create();
    writeBody(w, type, value);
    // A copy of its own: finish() may hand out a slice of a shared 8 KiB pool, which a kept
    // slice would keep alive whole.
    bytes = Uint8Array.prototype.slice.call(w.finish());
    ofType.set(value, bytes);
  }
  return bytes;
}

/** A message type's fields in the order protobufjs's encoder writes them (by number), and which of them hold messages. */
interface Layout {
  byNumber: protobuf.Field[];
  messageFields: Set<protobuf.Field>;
}
const layouts = new Map<protobuf.Type, Layout>();

function layoutOf(type: protobuf.Type): Layout {
  let layout = layouts.get(type);
  if (!layout) {
    const messageFields = new Set(type.fieldsArray.filter((f) => f.resolve().resolvedType instanceof protobuf.Type && !f.map));
    layouts.set(type, (layout = { byNumber: [...type.fieldsArray].sort((a, b) => a.id - b.id), messageFields }));
  }
  return layout;
}

/** Whether a message of a type may hold one whose bytes are remembered; cleared when a type is first remembered. */
const holds = new Map<protobuf.Type, boolean>();

/**
 * Whether `type` has a message field, at any depth, of a type something was remembered of.
 * Either answer gives the same bytes: a message whose type holds none is encoded whole by
 * protobufjs, one whose type may is written field by field. A type met again on its own path
 * (a recursive message) counts as holding none there.
 */
function holdsRemembered(type: protobuf.Type, path?: Set<protobuf.Type>): boolean {
  const known = holds.get(type);
  if (known !== undefined) return known;
  const on = path ?? new Set<protobuf.Type>();
  on.add(type);
  let found = false;
  for (const f of layoutOf(type).messageFields) {
    const t = f.resolvedType as protobuf.Type;
    if (remembered.has(t) || (!on.has(t) && holdsRemembered(t, on))) {
      found = true;
      break;
    }
  }
  on.delete(type);
  holds.set(type, found);
  return found;
}

/**
 * A response's bytes: its fields in the order protobufjs's own encoder takes (by field
 * number), so the bytes are the ones it would write. Each message is written from the bytes
 * remembered for its object (encodedMessage): fromObject and encode of 100 containers with
 * their labels was most of a ListContainers, and each record is converted once
 * (identityMemo). Written by hand into one buffer, not through protobufjs's Writer: on a
 * daemon whose code is not yet compiled (the first calls of a kind), its list of operations
 * was a tenth of a ListImages call.
 */
function responseBytes(type: protobuf.Type, value: Record<string, unknown>): Buffer {
  // A number is a varint to write, an array bytes to copy.
  const parts: (number | Uint8Array)[] = [];
  let size = 0;
  eachField(
    type,
    value,
    (v) => {
      const bytes = type.encode(type.fromObject(v)).finish();
      parts.push(bytes);
      size += bytes.length;
    },
    (tag, elementType, e) => {
      const bytes = encodedMessage(elementType, e);
      parts.push(tag, bytes.length, bytes);
      size += varintSize(tag) + varintSize(bytes.length) + bytes.length;
    },
  );
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) {
    if (typeof p === 'number') {
      at = putVarint(b, at, p);
    } else {
      b.set(p, at);
      at += p.length;
    }
  }
  return b;
}

/**
 * The fields of `value`, a message of `type`, that are set, in protobufjs's order (by field
 * number): each field that holds no message as a one-field object for protobufjs to encode
 * (`scalar`), each message it holds (each element of a repeated one) with its tag, field
 * number and wire type 2, length-delimited (`message`). Proto3 encodes an unset field, an
 * empty repeated or map field as nothing.
 */
function eachField(
  type: protobuf.Type,
  value: Record<string, unknown>,
  scalar: (v: Record<string, unknown>) => void,
  message: (tag: number, elementType: protobuf.Type, e: object) => void,
): void {
  const { byNumber, messageFields } = layoutOf(type);
  for (const f of byNumber) {
    const v = value[f.name];
    if (v === undefined || v === null || isEmptyCollection(f, v)) continue;
    if (!messageFields.has(f)) {
      scalar({ [f.name]: v });
      continue;
    }
    const elementType = f.resolvedType as protobuf.Type;
    const tag = ((f.id << 3) | 2) >>> 0;
    for (const e of f.repeated ? (v as object[]) : [v as object]) message(tag, elementType, e);
  }
}

/** The bytes of `v` (0 to 2^32 - 1) as a varint. */
function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Writes `v` (0 to 2^32 - 1) as a varint at `b[at]`; returns the offset after it. */
function putVarint(b: Buffer, at: number, v: number): number {
  while (v > 0x7f) {
    b[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[at++] = v;
  return at;
}

/**
 * Writes the fields of `value`, a message of `type` held by a response, into `w`, in
 * protobufjs's order, remembered messages copied and the rest encoded: a ListPodSandboxStats
 * of 100 pods spent a fifth of its time encoding, half of its bytes the pods' and containers'
 * attributes, which are the same in every call (encodeAhead).
 */
function writeFields(w: protobuf.Writer, type: protobuf.Type, value: Record<string, unknown>): void {
  eachField(
    type,
    value,
    (v) => type.encode(type.fromObject(v), w),
    (tag, elementType, e) => writeMessage(w.uint32(tag), elementType, e),
  );
}

/**
 * An empty repeated or map field, which proto3 encodes as nothing: skipped without a trip
 * through protobufjs (ImageStatus's `info: {}` on every call).
 */
function isEmptyCollection(f: protobuf.Field, v: unknown): boolean {
  if (f.repeated) return Array.isArray(v) && v.length === 0;
  if (f.map) return typeof v === 'object' && Object.keys(v as object).length === 0;
  return false;
}

/** Writes `value`, a message of `type`, length-delimited: its remembered bytes, or encoded. */
function writeMessage(w: protobuf.Writer, type: protobuf.Type, value: object): void {
  const known = remembered.get(type)?.get(value);
  if (known) {
    w.bytes(known);
    return;
  }
  writeBody(w.fork(), type, value);
  w.ldelim();
}

/** Writes the fields of `value`, a message of `type`: field by field where it may hold remembered messages, else by protobufjs. */
function writeBody(w: protobuf.Writer, type: protobuf.Type, value: object): void {
  if (holdsRemembered(type)) writeFields(w, type, value as Record<string, unknown>);
  else type.encode(type.fromObject(value), w);
}
