import { parentPort } from 'node:worker_threads';
import { CoracleError } from '../errors.js';
import type { FeedState } from './blob-feed.js';
import { FollowedBlob } from './blob-chunks.js';
import { unpackLayer, type UnpackRequest } from './unpack.js';

/**
 * A job (`request`, with its feed's state and where to tell how far it has read when it follows
 * a download) or a feed's change, with the bytes of the write handed over if they are.
 */
export type UnpackMessage = { id: number; request: UnpackRequest; feed?: FeedState; consumed?: BigInt64Array } | { id: number; feed: FeedState; bytes?: Uint8Array };

/** The feeds of the jobs that follow a download, by job id. */
const followed = new Map<number, FollowedBlob>();

/** Runs layer unpacks off the daemon's main thread; one request at a time per worker. */
parentPort!.on('message', (msg: UnpackMessage) => {
  if (!('request' in msg)) {
    followed.get(msg.id)?.update(msg.feed, msg.bytes);
    return;
  }
  const follow = msg.feed ? new FollowedBlob(msg.feed, msg.consumed) : undefined;
  if (follow) followed.set(msg.id, follow);
  unpackLayer(msg.request, follow)
    .then(
      (result) => parentPort!.postMessage({ id: msg.id, result }),
      (err: unknown) =>
        parentPort!.postMessage({
          id: msg.id,
          // A CoracleError's code is a gRPC code; a system error's, its errno name (ENOSPC…).
          error: { message: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException).code, coracle: err instanceof CoracleError },
        }),
    )
    .finally(() => followed.delete(msg.id));
});
