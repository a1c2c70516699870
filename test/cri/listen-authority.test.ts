import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { loadCriProto } from '../../src/cri/proto-clients.js';
import type { ContainerEventResponse__Output } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import type { PodSandboxStatusResponse__Output } from '../../src/generated/runtime/v1/PodSandboxStatusResponse.js';
import type { RuntimeServiceClient } from '../../src/generated/runtime/v1/RuntimeService.js';
import type { VersionResponse__Output } from '../../src/generated/runtime/v1/VersionResponse.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';
import { grpcHeaders, rawGrpcCall } from '../helpers/raw-h2-client.js';

const VERSION = '/runtime.v1.RuntimeService/Version';

/** A grpc-js client that sends `authority` as :authority, as kubelet 1.26 sends its socket path. */
function clientWithAuthority(d: TestDaemon, authority: string): RuntimeServiceClient {
  const client = new (loadCriProto().runtime.v1.RuntimeService)(`unix:${d.socket}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  });
  onCleanup('close the client', () => client.close());
  return client;
}

const unary = <T>(call: (cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => call((err, res) => (err ? reject(err) : resolve(res!))));

describe('cri/listen: every request is served whatever its :authority', function () {
  this.timeout(60_000);
  let d: TestDaemon;
  beforeEach(async () => {
    d = await startTestDaemon();
  });

  it('a gRPC client sending the socket path: unary, a server stream and a large response', async () => {
    const client = clientWithAuthority(d, d.socket);
    const v = await unary<VersionResponse__Output>((cb) => client.Version({ version: 'v1' }, cb));
    assert.equal(v.runtime_name, 'coracle');

    const events: ContainerEventResponse__Output[] = [];
    const stream = client.GetContainerEvents({});
    onCleanup('cancel the event stream', () => stream.cancel());
    stream.on('data', (e: ContainerEventResponse__Output) => events.push(e));
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 200));

    // A host-network pod needs no CNI; 1 MiB of annotations makes a response of many frames.
    const big = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`test/a${i}`, String(i % 10).repeat(16 * 1024)]));
    const config = podConfig('authority', { annotations: big, linux: { security_context: { namespace_options: { network: 'NODE' } } } });
    const pod = (await unary<{ pod_sandbox_id: string }>((cb) => client.RunPodSandbox({ config }, cb))).pod_sandbox_id;
    onCleanup('remove the pod', () => d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod }));
    const status = await unary<PodSandboxStatusResponse__Output>((cb) => client.PodSandboxStatus({ pod_sandbox_id: pod }, cb));
    assert.deepEqual(status.status!.annotations, big);
    for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      events.map((e) => [e.container_id, e.container_event_type]),
      [
        [pod, 'CONTAINER_CREATED_EVENT'],
        [pod, 'CONTAINER_STARTED_EVENT'],
      ],
    );
  });

  const authorities: { name: string; authority: string | undefined; host?: string }[] = [
    { name: 'a socket path', authority: '/run/coracle/coracle.sock' },
    { name: 'a unix: URL', authority: 'unix:///run/coracle/coracle.sock' },
    { name: 'an empty one', authority: '' },
    { name: 'none at all', authority: undefined },
    { name: 'a normal host', authority: 'localhost' },
    { name: 'none, and a host header with a path', authority: undefined, host: '/run/coracle/coracle.sock' },
  ];
  for (const a of authorities) {
    it(`a raw HTTP/2 request with ${a.name} is answered`, async () => {
      const res = await rawGrpcCall(connect(d.socket), grpcHeaders(VERSION, a.authority, a.host ? [['host', a.host]] : []));
      assert.equal(res.reset, undefined, `stream reset with code ${res.reset}`);
      assert.deepEqual(res.headers.filter(([k]) => k === 'grpc-status' || k === ':status'), [[':status', '200'], ['grpc-status', '0']]);
      assert.match(res.data.toString('latin1'), /coracle/);
    });
  }

  it('a malformed request is still refused: an upper-case header name resets the stream', async () => {
    const res = await rawGrpcCall(connect(d.socket), grpcHeaders(VERSION, 'localhost', [['X-Upper', 'a']]));
    assert.equal(res.reset, 1, 'PROTOCOL_ERROR');
    // The daemon is none the worse for it.
    assert.equal((await d.clients.runtime.Version({ version: 'v1' })).runtime_name, 'coracle');
  });

  it('a client that is not HTTP/2 is cut off; the daemon serves on', async () => {
    const sock = connect(d.socket);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => undefined);
    sock.resume();
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    assert.equal((await d.clients.runtime.Version({ version: 'v1' })).runtime_name, 'coracle');
  });
});
