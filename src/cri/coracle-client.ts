import * as grpc from '@grpc/grpc-js';
import { CoracleError } from '../errors.js';
import type { CoracleClient } from '../generated/coracle/v1/Coracle.js';
import { loadCoracleProto } from './proto.js';

/**
 * The CLI's side of Coracle's own service. Lives with the server in src/cri/ because it is
 * the other end of the same wire; the CLI sees plain functions and CoracleErrors.
 */
export interface ImportedImage {
  id: string;
  repoTags: string[];
}

function client(socket: string): CoracleClient {
  const proto = loadCoracleProto();
  return new proto.coracle.v1.Coracle(`unix:${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.max_send_message_length': 16 << 20,
  });
}

function fromGrpc(err: grpc.ServiceError, socket: string): CoracleError {
  if (err.code === grpc.status.UNAVAILABLE) {
    return new CoracleError('UNAVAILABLE', `cannot connect to the Coracle daemon at unix://${socket}: is it running?`);
  }
  const name = grpc.status[err.code] as CoracleError['code'];
  return new CoracleError(name ?? 'INTERNAL', err.details || err.message);
}

export async function importImages(socket: string, data: AsyncIterable<Buffer>): Promise<ImportedImage[]> {
  const c = client(socket);
  try {
    return await new Promise<ImportedImage[]>((resolve, reject) => {
      const call = c.ImportImages((err, res) => {
        if (err) reject(fromGrpc(err, socket));
        else resolve((res?.images ?? []).map((i) => ({ id: i.id, repoTags: i.repo_tags })));
      });
      (async () => {
        for await (const chunk of data) {
          if (!call.write({ data: chunk })) await new Promise<void>((r) => call.once('drain', () => r()));
        }
        call.end();
      })().catch((err: unknown) => {
        call.cancel();
        reject(err);
      });
    });
  } finally {
    c.close();
  }
}

export async function* exportImages(socket: string, images: string[]): AsyncGenerator<Buffer> {
  const c = client(socket);
  const call = c.ExportImages({ images });
  try {
    for await (const chunk of call as AsyncIterable<{ data: Buffer }>) yield chunk.data;
  } catch (err) {
    throw fromGrpc(err as grpc.ServiceError, socket);
  } finally {
    c.close();
  }
}
