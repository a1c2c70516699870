import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type ServerHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchExit } from '../../src/cli/container-event-stream.js';
import { onCleanup } from '../helpers/cleanup.js';

describe('cli: container event stream', () => {
  it('watchExit: a daemon that never sends the headers (one older than its word of the subscription) does not hold the run: it goes on without the exit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-evs-'));
    onCleanup('remove the socket dir', () => rm(dir, { recursive: true, force: true }));
    const socket = join(dir, 'd.sock');
    const calls: string[] = [];
    const streams: ServerHttp2Stream[] = [];
    // A gRPC server that takes the call and answers nothing, not even its headers.
    const server = createServer();
    server.on('stream', (stream, headers) => {
      calls.push(String(headers[':path']));
      stream.on('error', () => undefined);
      streams.push(stream);
    });
    server.on('sessionError', () => undefined);
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    onCleanup('close the server', () => {
      for (const s of streams) s.close();
      return new Promise((r) => server.close(r));
    });

    const watch = await watchExit(socket, 200);
    onCleanup('close the watch', () => watch.close());
    assert.deepEqual(calls, ['/runtime.v1.RuntimeService/GetContainerEvents']);
    watch.of('c1');
    assert.equal(await watch.exitCode(50), undefined, 'no die came: the run takes the code from the status');
  });
});
