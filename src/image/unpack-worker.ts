import { parentPort } from 'node:worker_threads';
import { CoracleError } from '../errors.js';
import { unpackLayer, type UnpackRequest } from './unpack.js';

/** Runs layer unpacks off the daemon's main thread; one request at a time per worker. */
parentPort!.on('message', (msg: { id: number; request: UnpackRequest }) => {
  unpackLayer(msg.request).then(
    (result) => parentPort!.postMessage({ id: msg.id, result }),
    (err: unknown) =>
      parentPort!.postMessage({
        id: msg.id,
        // A CoracleError's code is a gRPC code; a system error's, its errno name (ENOSPC…).
        error: { message: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code, coracle: err instanceof CoracleError },
      }),
  );
});
