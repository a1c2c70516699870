import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerService, type ContainerDeps, type ContainerSpec } from '../../src/container/container-service.js';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { DirSnapshotter } from '../../src/image/dir-snapshotter.js';
import type { ImageRecord } from '../../src/image/image-store.js';
import { createLogger } from '../../src/log.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-store.js';

/*
 * CreateContainer holds its image's layers, through a lease of the snapshotter's, from the
 * tick it finds the image: the window before its snapshot is made is the one a RemoveImage or
 * a collection could use. Here the service runs over a real snapshotter on a temp dir and a
 * fake record store whose save waits on a gate, so the window is held open for as long as the
 * test likes (the end-to-end race, with runc held on cue, is in test/cri/lifecycle-races.test.ts).
 */

describe('container/container-create: layers held by a create in flight', () => {
  const log = createLogger({ level: 'error', format: 'json' });

  it('holds the layers before the record is saved, and lets go when the create ends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-holds-'));
    try {
      let openGate: () => void = () => undefined;
      const gate = new Promise<void>((r) => (openGate = r));
      let saving: () => void = () => undefined;
      const saveStarted = new Promise<void>((r) => (saving = r));
      const records: ContainerRecord[] = [];
      const store = {
        all: () => records,
        get: (id: string) => records.find((r) => r.id === id),
        save: async () => {
          saving();
          await gate;
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        },
        remove: async () => undefined,
        dir: (id: string) => join(dir, 'records', id),
      };
      const pod = { id: 'p1', state: 'READY', metadata: { name: 'pod', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, runtimeHandler: '', namespaces: { pid: 'POD' }, pins: {}, logDirectory: '' } as unknown as SandboxRecord;
      const [c1, c2] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
      const image = { id: 'sha256:img', repoDigests: [], layers: [{ chainId: c1 }, { chainId: c2 }], config: { stopSignal: '' } } as unknown as ImageRecord;
      const snapshots = new DirSnapshotter(join(dir, 'snapshots'), { unpack: () => Promise.reject(new Error('unused')) });
      await snapshots.init();
      const deps = {
        store,
        stateDir: dir,
        sandboxes: { get: (id: string) => (id === 'p1' ? pod : undefined), podDir: () => dir },
        images: { find: (t: string) => (t === 'img' ? image : undefined), commitLayer: () => Promise.reject(new Error('unused')), collect: async () => undefined },
        snapshots,
        runtime: () => ({}),
        ownOomScoreAdj: 0,
        allCapabilities: ['CAP_CHOWN'],
        cgroups: {},
        events: { publish: () => undefined },
        log,
      } as unknown as ContainerDeps;
      const svc = new ContainerService(deps);
      const spec = {
        sandboxId: 'p1', metadata: { name: 'c', attempt: 0 }, image: 'img', command: [], args: [], workingDir: '', env: [], mounts: [], devices: [],
        labels: {}, annotations: {}, logPath: '', stdin: false, stdinOnce: false, tty: false, resources: {},
        security: { privileged: false, capAdd: [], capDrop: [], pid: 'CONTAINER', supplementalGroups: [], readonlyRootfs: false, noNewPrivileges: false, maskedPaths: [], readonlyPaths: [], seccomp: { kind: 'unconfined' } },
      } as unknown as ContainerSpec;

      const created = svc.create(spec, log);
      // Synchronously, before the create has awaited anything, the layers are held: the
      // snapshotter's answer is taken from the leases as they are at the call.
      const atOnce = snapshots.referenced();
      assert.deepEqual([...(await atOnce)].sort(), [c1, c2]);
      // The create must get as far as saving its record (a failure before that is a bug here).
      await Promise.race([saveStarted, created.then(() => assert.fail('created without saving'))]);
      assert.deepEqual([...(await snapshots.referenced())].sort(), [c1, c2], 'still held while the record is being saved');
      openGate();
      await assert.rejects(created, /no space left/);
      assert.deepEqual([...(await snapshots.referenced())], [], 'a failed create lets its layers go');
      assert.deepEqual(await snapshots.list(), [], 'and made no snapshot');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
