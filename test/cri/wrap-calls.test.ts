import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadCoracleProto } from '../../src/cri/proto-clients.js';
import type { CoracleClient } from '../../src/generated/coracle/v1/Coracle.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir, writeTestConfig, type TestDaemon } from '../helpers/daemon.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { podConfig } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

const hostNetwork = (name: string) => podConfig(name, { linux: { security_context: { namespace_options: { network: 'NODE' } } } });
const fdCount = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;
const fdTargets = async (pid: number): Promise<string[]> => Promise.all((await readdir(`/proc/${pid}/fd`)).map((f) => readlink(`/proc/${pid}/fd/${f}`).catch(() => '?')));
/** How many calls of `rpc` the daemon has logged as ended (done or failed). */
const ended = (d: TestDaemon, rpc: string): number => d.lines.filter((l) => l.includes(`"rpc":"${rpc}"`) && /"message":"rpc (done|failed)"/.test(l)).length;

/** Opens a server stream and cancels it once `first` says so (on the first message, or at once). */
function openAndCancel(stream: grpc.ClientReadableStream<unknown>, onFirstMessage: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    stream.on('error', () => resolve());
    stream.on('end', () => resolve());
    stream.on('status', () => resolve());
    if (onFirstMessage) stream.once('data', () => stream.cancel());
    else setImmediate(() => stream.cancel());
  });
}

describe('cri/wrap: streams, timeouts and error codes', function () {
  this.timeout(120_000);
  const fx = busyboxRegistry('streams/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });

  let d: TestDaemon;
  let coracle: CoracleClient;

  beforeEach(async () => {
    d = await startTestDaemon({ mirrors: { [fx.registry.host]: fx.registry.url, 'stall.test': (await stallProxy()).url } });
    const proto = loadCoracleProto();
    coracle = new proto.coracle.v1.Coracle(`unix:${d.socket}`, grpc.credentials.createInsecure());
    onCleanup('close the coracle client', () => coracle.close());
    await d.clients.image.PullImage({ image: { image: fx.image } });
  });

  async function stallProxy(): Promise<{ url: string }> {
    return startFaultProxy(fx.registry.url, { kind: 'stall', afterBytes: 1024 });
  }

  it('200 cancelled GetContainerEvents, 40 cancelled stalled pulls and 40 cancelled exports: the daemon lets go of every fd and subscription', async () => {
    const pid = d.proc.pid!;
    /** Opens `n` event streams, makes events until each has one, and cancels each on its first. */
    const events = async (n: number): Promise<void> => {
      const got = new Set<number>();
      const closed = Array.from({ length: n }, (_, i) => {
        const stream = d.clients.rawRuntime.GetContainerEvents({});
        stream.once('data', () => got.add(i));
        return openAndCancel(stream, true);
      });
      while (got.size < n) {
        const pod = (await d.clients.runtime.RunPodSandbox({ config: hostNetwork(`ev${got.size}`) })).pod_sandbox_id;
        await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
      }
      await Promise.all(closed);
    };
    // A stalled pull, cancelled while it waits for a blob: its connection and files go.
    const pulls = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await openAndCancel(coracle.PullImage({ image: 'stall.test/streams/busybox:v1' }), true);
    };
    // An export cancelled on its first chunk, while a blob is being read: its file closes.
    const exports = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await openAndCancel(coracle.ExportImages({ images: [fx.image] }), true);
    };
    await events(2);
    await pulls(1);
    await exports(1);
    // PullImage counts the CRI pull of the set-up too (its line may come after its answer).
    await until('the warm-up calls to end', () => ended(d, 'GetContainerEvents') === 2 && ended(d, 'PullImage') === 2 && ended(d, 'ExportImages') === 1);
    const baseline = await fdCount(pid);
    await events(200);
    await pulls(40);
    await exports(40);
    const counts = (): string => ['GetContainerEvents', 'PullImage', 'ExportImages'].map((r) => `${r} ${ended(d, r)}`).join(', ');
    // Each call's end is logged after its handler unsubscribed and let go of its pull or blob.
    await until(() => `every cancelled call to end (ended: ${counts()})`, () => ended(d, 'GetContainerEvents') === 202 && ended(d, 'PullImage') === 42 && ended(d, 'ExportImages') === 41);
    await until(`the daemon's fds to return to ${baseline}`, async () => (await fdCount(pid)) <= baseline).catch(async (err: Error) => {
      throw new Error(`${err.message}; it holds: ${(await fdTargets(pid)).join(' ')}`);
    });
    assert.equal(d.proc.exitCode, null);
  });

  it('ExecSync with a timeout past 2^31 ms does not time out at once', async () => {
    const pod = (await d.clients.runtime.RunPodSandbox({ config: hostNetwork('exec') })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: { metadata: { name: 'c', attempt: 0 }, image: { image: fx.image }, command: ['/bin/sleep', '600'] }, sandbox_config: hostNetwork('exec') });
    await d.clients.runtime.StartContainer({ container_id: id });
    // 3e6 s is 3e9 ms: Node's setTimeout would fire it after 1 ms.
    for (const timeout of [3_000_000, 9_223_372_036]) {
      const r = await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/sh', '-c', 'sleep 0.5; echo finished'], timeout });
      assert.equal(r.exit_code, 0);
      assert.equal(r.stdout.toString(), 'finished\n');
    }
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
  });
});

describe('cri/wrap: a full disk', function () {
  this.timeout(60_000);

  it('ENOSPC is RESOURCE_EXHAUSTED, naming the pod, and leaves nothing', async () => {
    const paths = await writeTestConfig(await tempDir());
    await mkdir(paths.root, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'coracle-test-full', paths.root]);
    onCleanup(`unmount ${paths.root}`, () => run('umount', [paths.root]));
    const d = await startTestDaemon({ paths });
    // Fill what is left; dd stops at ENOSPC.
    await run('dd', ['if=/dev/zero', `of=${join(paths.root, 'filler')}`, 'bs=64k']).catch(() => undefined);
    const err = await codeOf(d.clients.runtime.RunPodSandbox({ config: hostNetwork('full') }));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, /sandbox k8s_POD_full_test_.*: .*no space left on device/i);
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
    assert.deepEqual((await readdir(join(paths.root, 'sandboxes'))).filter((n) => !n.startsWith('.')), []);
  });
});
