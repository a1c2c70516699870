import * as grpc from '@grpc/grpc-js';
import { loadCriProto } from '../../src/cri/proto-clients.js';
import type { ImageServiceClient } from '../../src/generated/runtime/v1/ImageService.js';
import type { RuntimeServiceClient } from '../../src/generated/runtime/v1/RuntimeService.js';

/** A generated client with each unary method turned into `(request) => Promise<response>`. */
export type Promised<C> = {
  [K in keyof C as K extends Capitalize<string & K> ? K : never]: C[K] extends (a: infer A, cb: grpc.requestCallback<infer R>) => grpc.ClientUnaryCall
    ? (request: A, options?: grpc.CallOptions) => Promise<R>
    : never;
};

export interface CriClients {
  runtime: Promised<RuntimeServiceClient>;
  image: Promised<ImageServiceClient>;
  rawRuntime: RuntimeServiceClient;
  rawImage: ImageServiceClient;
  close(): void;
}

function promised<C extends grpc.Client>(client: C): Promised<C> {
  return new Proxy({} as Promised<C>, {
    get: (_target, name: string) =>
      (request: unknown, options: grpc.CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const method = (client as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>)[name];
          if (typeof method !== 'function') throw new Error(`no RPC ${name}`);
          method.call(client, request, new grpc.Metadata(), { deadline: Date.now() + 15_000, ...options }, (err: unknown, res: unknown) =>
            err ? reject(err as Error) : resolve(res),
          );
        }),
  });
}

/** Sets the `coracle-namespace` header (src/cri/namespace-header.ts) on every call. */
function inNamespace(namespace: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set('coracle-namespace', namespace);
        start(metadata, listener);
      },
    });
}

/** Clients of the daemon at `socket`; with `namespace`, every call names it (without, kubelet's: no header). */
export function criClients(socket: string, namespace?: string): CriClients {
  const proto = loadCriProto();
  const target = `unix:${socket}`;
  const creds = grpc.credentials.createInsecure();
  const options = namespace === undefined ? {} : { interceptors: [inNamespace(namespace)] };
  const rawRuntime = new proto.runtime.v1.RuntimeService(target, creds, options);
  const rawImage = new proto.runtime.v1.ImageService(target, creds, options);
  return {
    runtime: promised(rawRuntime),
    image: promised(rawImage),
    rawRuntime,
    rawImage,
    close() {
      rawRuntime.close();
      rawImage.close();
    },
  };
}

/** The gRPC status code of a rejected call, for assertions. */
export async function codeOf(p: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}
