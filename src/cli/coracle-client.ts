import * as grpc from '@grpc/grpc-js';
import type { CoracleClient } from '../generated/coracle/v1/Coracle.js';
import type { CommitContainerRequest } from '../generated/coracle/v1/CommitContainerRequest.js';
import type { CommitContainerResponse__Output } from '../generated/coracle/v1/CommitContainerResponse.js';
import type { ContainerTopRequest } from '../generated/coracle/v1/ContainerTopRequest.js';
import type { RestartContainerRequest } from '../generated/coracle/v1/RestartContainerRequest.js';
import type { SignalContainerRequest } from '../generated/coracle/v1/SignalContainerRequest.js';
import type { ContainerTopResponse__Output } from '../generated/coracle/v1/ContainerTopResponse.js';
import type { ImageHistoryRequest } from '../generated/coracle/v1/ImageHistoryRequest.js';
import type { ImageHistoryResponse__Output } from '../generated/coracle/v1/ImageHistoryResponse.js';
import type { ContainerLogChunk__Output } from '../generated/coracle/v1/ContainerLogChunk.js';
import type { CopyToContainerChunk } from '../generated/coracle/v1/CopyToContainerChunk.js';
import type { ImportImagesChunk } from '../generated/coracle/v1/ImportImagesChunk.js';
import type { ImportImagesResponse__Output } from '../generated/coracle/v1/ImportImagesResponse.js';
import type { TagImageRequest } from '../generated/coracle/v1/TagImageRequest.js';
import type { TagImageResponse__Output } from '../generated/coracle/v1/TagImageResponse.js';
import type { UntagImageRequest } from '../generated/coracle/v1/UntagImageRequest.js';
import type { UntagImageResponse__Output } from '../generated/coracle/v1/UntagImageResponse.js';
import { loadCoracleProto } from '../cri/proto-clients.js';
import { channelOf, fromGrpc as toCliError, type DaemonTarget } from './daemon-target.js';
import type { PullAuth } from './credentials-store.js';
import { cliNamespace } from './cli-namespace.js';

/**
 * The CLI's side of Coracle's own service: a client of the daemon's socket, so it lives with
 * the CLI (the server's handlers are in src/cri/); the CLI sees plain functions and CoracleErrors.
 */
export interface ImportedImage {
  id: string;
  repoTags: string[];
}

function client(socket: DaemonTarget): CoracleClient {
  const proto = loadCoracleProto();
  const ch = channelOf(socket);
  return new proto.coracle.v1.Coracle(ch.target, ch.credentials, {
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.max_send_message_length': 16 << 20,
    // Every call in the CLI's namespace (its container calls see only the CLI's containers).
    interceptors: [cliNamespace],
  });
}

function fromGrpc(err: grpc.ServiceError, socket: DaemonTarget): Error {
  return toCliError(err, channelOf(socket).display);
}

/**
 * A client-streaming call: `first` (if any), then each chunk of `data` as a message, waiting
 * for the stream to drain; a failure of `data` cancels the call.
 */
function streamUp<M, R>(socket: DaemonTarget, start: (c: CoracleClient, cb: (err: grpc.ServiceError | null, res?: R) => void) => grpc.ClientWritableStream<M>, data: AsyncIterable<Buffer>, message: (chunk: Buffer) => M, first?: M): Promise<R | undefined> {
  const c = client(socket);
  return new Promise<R | undefined>((resolve, reject) => {
    const call = start(c, (err, res) => (err ? reject(fromGrpc(err, socket)) : resolve(res)));
    (async () => {
      if (first !== undefined) call.write(first);
      for await (const chunk of data) {
        if (!call.write(message(chunk))) await new Promise<void>((r) => call.once('drain', () => r()));
      }
      call.end();
    })().catch((err: unknown) => {
      call.cancel();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  }).finally(() => c.close());
}

export async function importImages(socket: DaemonTarget, data: AsyncIterable<Buffer>): Promise<ImportedImage[]> {
  const res = await streamUp<ImportImagesChunk, ImportImagesResponse__Output>(socket, (c, cb) => c.ImportImages(cb), data, (chunk) => ({ data: chunk }));
  return (res?.images ?? []).map((i) => ({ id: i.id, repoTags: i.repo_tags }));
}

/** A server-streaming call's data chunks, as they come; the call is cancelled when the reader stops early. */
async function* streamDown(socket: DaemonTarget, start: (c: CoracleClient) => grpc.ClientReadableStream<{ data: Buffer }>): AsyncGenerator<Buffer> {
  const c = client(socket);
  const call = start(c);
  try {
    for await (const chunk of call as AsyncIterable<{ data: Buffer }>) yield chunk.data;
  } catch (err) {
    throw fromGrpc(err as grpc.ServiceError, socket);
  } finally {
    call.cancel();
    c.close();
  }
}

export function exportImages(socket: DaemonTarget, images: string[]): AsyncGenerator<Buffer> {
  return streamDown(socket, (c) => c.ExportImages({ images }));
}

function unary<Req, Res>(socket: DaemonTarget, call: (c: CoracleClient, req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
  const c = client(socket);
  return new Promise<Res>((resolve, reject) => {
    call(c, req, (err, res) => {
      c.close();
      if (err) reject(fromGrpc(err, socket));
      else resolve(res!);
    });
  });
}

export interface HistoryLine {
  id: string;
  /** Milliseconds since the epoch; 0 when unknown. */
  created: number;
  createdBy: string;
  size: number;
  comment: string;
  emptyLayer: boolean;
}

export async function imageHistory(socket: DaemonTarget, image: string): Promise<HistoryLine[]> {
  const res = await unary<ImageHistoryRequest, ImageHistoryResponse__Output>(socket, (c, req, cb) => c.ImageHistory(req, cb), { image });
  return res.entries.map((e) => ({ id: e.id, created: Number(BigInt(e.created) / 1_000_000n), createdBy: e.created_by, size: Number(e.size), comment: e.comment, emptyLayer: e.empty_layer }));
}

export interface TopLine {
  pid: number;
  ppid: number;
  user: string;
  time: string;
  command: string;
}

export async function containerTop(socket: DaemonTarget, containerId: string): Promise<TopLine[]> {
  const res = await unary<ContainerTopRequest, ContainerTopResponse__Output>(socket, (c, req, cb) => c.ContainerTop(req, cb), { container_id: containerId });
  return res.processes.map((p) => ({ pid: p.pid, ppid: p.ppid, user: p.user, time: p.time, command: p.command }));
}

/** docker commit; the new image's id. */
export async function commitContainer(socket: DaemonTarget, containerId: string, o: { repoTag?: string; comment?: string; author?: string }): Promise<string> {
  const res = await unary<CommitContainerRequest, CommitContainerResponse__Output>(socket, (c, req, cb) => c.CommitContainer(req, { deadline: Date.now() + 30 * 60_000 }, cb), {
    container_id: containerId,
    repo_tag: o.repoTag ?? '',
    comment: o.comment ?? '',
    author: o.author ?? '',
  });
  return res.image_id;
}

/** docker start: an exited container runs again, its filesystem kept. */
export async function restartContainer(socket: DaemonTarget, containerId: string): Promise<void> {
  await unary<RestartContainerRequest, unknown>(socket, (c, req, cb) => c.RestartContainer(req, cb), { container_id: containerId });
}

/** docker run's signal proxy: `signal` (a name or number) to the container's main process. */
export async function signalContainer(socket: DaemonTarget, containerId: string, signal: string): Promise<void> {
  await unary<SignalContainerRequest, unknown>(socket, (c, req, cb) => c.SignalContainer(req, { deadline: Date.now() + 30_000 }, cb), { container_id: containerId, signal });
}

/** docker rmi NAME: one tag or repo digest taken; the image removed once it has none (unless `keepUntagged`). */
export async function untagImage(socket: DaemonTarget, image: string, keepUntagged: boolean): Promise<{ imageId: string; untagged: string[]; deleted: boolean }> {
  const res = await unary<UntagImageRequest, UntagImageResponse__Output>(socket, (c, req, cb) => c.UntagImage(req, cb), { image, keep_untagged: keepUntagged });
  return { imageId: res.image_id, untagged: res.untagged, deleted: res.deleted };
}

/** docker tag: the image `source` names gets the tag `target` too; the tag as stored. */
export async function tagImage(socket: DaemonTarget, source: string, target: string): Promise<string> {
  return (await unary<TagImageRequest, TagImageResponse__Output>(socket, (c, req, cb) => c.TagImage(req, cb), { source, target })).tag;
}

/** docker cp CONTAINER:SRC: the tar of `path` in the container, as it streams. */
export function copyFromContainer(socket: DaemonTarget, containerId: string, path: string): AsyncGenerator<Buffer> {
  return streamDown(socket, (c) => c.CopyFromContainer({ container_id: containerId, path }));
}

/** docker cp SRC CONTAINER:DEST: `tar` unpacked at `path` in the container; `contents`: SRC/., its top entry is DEST; `archive`: docker cp -, the tar as it is into the directory DEST. */
export async function copyToContainer(socket: DaemonTarget, containerId: string, path: string, tar: AsyncIterable<Buffer>, how: { contents?: boolean; archive?: boolean } = {}): Promise<void> {
  await streamUp<CopyToContainerChunk, unknown>(socket, (c, cb) => c.CopyToContainer(cb), tar, (chunk) => ({ data: chunk }), { container_id: containerId, path, contents: how.contents === true, archive: how.archive === true });
}

/** A message of a container's log, as the daemon read it. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: Buffer;
  /** As the log has it (RFC 3339), and in nanoseconds since the epoch. */
  time: string;
  timeNanos: bigint;
}

/**
 * docker logs [-f]: the container's log as the daemon reads it (so over tcp:// too), a batch
 * at a time; `tail` undefined: all, `since`/`until` in nanoseconds. The call is cancelled
 * when the reader stops early.
 */
export async function* containerLogs(socket: DaemonTarget, containerId: string, o: { follow: boolean; tail?: number; since?: bigint; until?: bigint; waitStart?: boolean }): AsyncGenerator<LogLine[]> {
  const c = client(socket);
  const call = c.ContainerLogs({
    container_id: containerId,
    follow: o.follow,
    tail: o.tail === undefined ? '-1' : String(o.tail),
    since_nanos: String(o.since ?? 0n),
    until_nanos: String(o.until ?? 0n),
    wait_start: o.waitStart === true,
  });
  try {
    for await (const chunk of call as AsyncIterable<ContainerLogChunk__Output>) {
      yield chunk.lines.map((l) => ({ stream: l.stream === 'stderr' ? 'stderr' : 'stdout', line: l.line, time: l.time, timeNanos: BigInt(l.time_nanos) }));
    }
  } catch (err) {
    throw fromGrpc(err as grpc.ServiceError, socket);
  } finally {
    call.cancel();
    c.close();
  }
}

export interface PullStep {
  layer: string;
  status: string;
  current: number;
  total: number;
}

/** A pull with its progress (with `auth`, the credentials for its registry): each step to `onStep`; the image id at the end. */
export async function pullWithProgress(socket: DaemonTarget, image: string, onStep: (s: PullStep) => void, auth?: PullAuth): Promise<string> {
  const c = client(socket);
  const call = c.PullImage({ image, ...(auth ? { auth } : {}) }, { deadline: Date.now() + 60 * 60_000 });
  let id = '';
  try {
    for await (const m of call as AsyncIterable<{ layer: string; status: string; current: string; total: string; image_id: string }>) {
      if (m.image_id) id = m.image_id;
      else onStep({ layer: m.layer, status: m.status, current: Number(m.current), total: Number(m.total) });
    }
  } catch (err) {
    throw fromGrpc(err as grpc.ServiceError, socket);
  } finally {
    c.close();
  }
  return id;
}
