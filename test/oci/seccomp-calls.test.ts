import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LinuxContainerSecurityContext } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';
import { DOCKER_ARCH_MAP } from '../helpers/docker-arch-map.js';

const run = promisify(execFile);
const PROBE_SOURCE = fileURLToPath(new URL('../../../test/fixtures/seccomp-probe.c', import.meta.url));

/**
 * What each call of test/fixtures/seccomp-probe.c gets under RuntimeDefault with containerd's
 * default capabilities, on a kernel of 4.8 or later. Arguments are such that the kernel itself
 * would not answer EPERM for most (see the Unconfined test), so EPERM here is the filter's.
 */
const RUNTIME_DEFAULT: Record<string, string> = {
  clone: 'ok', clone_newuser: 'EPERM', clone_newns: 'EPERM', clone3: 'ENOSYS', clone3_newuser: 'ENOSYS',
  unshare_user: 'EPERM', setns: 'EPERM', io_uring_setup: 'EPERM', io_uring_enter: 'EPERM', keyctl: 'EPERM',
  add_key: 'EPERM', request_key: 'EPERM', bpf: 'EPERM', perf_event_open: 'EPERM', mount: 'EPERM', umount2: 'EPERM',
  fsopen: 'EPERM', open_tree: 'EPERM', move_mount: 'EPERM', kexec_load: 'EPERM', init_module: 'EPERM',
  finit_module: 'EPERM', delete_module: 'EPERM', userfaultfd: 'EPERM', clock_settime: 'EPERM', settimeofday: 'EPERM',
  reboot: 'EPERM', swapon: 'EPERM', acct: 'EPERM', iopl: 'EPERM', syslog: 'EPERM', open_by_handle_at: 'EPERM',
  kcmp: 'EPERM', pidfd_getfd: 'EPERM', set_mempolicy: 'EPERM', vhangup: 'EPERM', sethostname: 'EPERM',
  ptrace_traceme: 'ok', process_vm_readv: 'ok', chroot: 'ok', personality_query: 'ok',
  personality_read_implies_exec: 'EPERM', socket_inet: 'ok', socket_netlink: 'ok', socket_vsock: 'EPERM',
  socket_alg: 'EPERM', socket_alg_high: 'EPERM', socket_vsock_high: 'EPERM', socket_inet_high: 'ok', getcwd: 'ok',
};

/** Calls the kernel answers with something other than EPERM in a container with the default capabilities. */
const KERNEL_SAYS_NOT_EPERM = [
  'clone_newuser', 'clone3', 'clone3_newuser', 'unshare_user', 'setns', 'io_uring_setup', 'keyctl', 'perf_event_open',
  'clock_settime', 'personality_read_implies_exec', 'socket_vsock', 'socket_vsock_high', 'socket_alg_high',
];


describe('oci/seccomp: RuntimeDefault, call by call', function () {
  this.timeout(120_000);
  const fx = busyboxRegistry('seccomp/busybox');
  let probeDir: string;

  before(async () => {
    probeDir = await mkdtemp(join(tmpdir(), 'coracle-seccomp-probe-'));
    await run('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', join(probeDir, 'seccomp-probe'), PROBE_SOURCE], { timeout: 120_000 });
  });
  after(async () => {
    if (probeDir) await rm(probeDir, { recursive: true, force: true });
  });

  let d: TestDaemon;
  let pod: string;
  beforeEach(async () => {
    d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('seccomp') })).pod_sandbox_id;
  });

  /** A running container (sleep) with the probe mounted read-only at /probe. */
  async function container(name: string, security: LinuxContainerSecurityContext): Promise<string> {
    const { container_id: id } = await d.clients.runtime.CreateContainer({
      pod_sandbox_id: pod,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: fx.image },
        command: ['/bin/sleep', '600'],
        mounts: [{ container_path: '/probe', host_path: probeDir, readonly: true }],
        linux: { security_context: security },
      },
      sandbox_config: podConfig('seccomp'),
    });
    await d.clients.runtime.StartContainer({ container_id: id });
    return id;
  }

  async function exec(id: string, cmd: string[]): Promise<{ out: string; err: string; code: number }> {
    const r = await d.clients.runtime.ExecSync({ container_id: id, cmd, timeout: 30 }, { deadline: Date.now() + 60_000 });
    return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
  }

  async function probe(id: string, calls: string[]): Promise<Record<string, string>> {
    const r = await exec(id, ['/probe/seccomp-probe', ...calls]);
    assert.equal(r.code, 0, r.err);
    return Object.fromEntries(r.out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  }

  it('refuses namespaces, io_uring, the keyring, mounts, modules and the clock; clone3 answers ENOSYS', async () => {
    const id = await container('default', { seccomp: { profile_type: 'RuntimeDefault' } });
    assert.match((await exec(id, ['/bin/grep', 'Seccomp:', '/proc/1/status'])).out, /^Seccomp:\t2$/m, 'the container\'s init is filtered');
    assert.deepEqual(await probe(id, Object.keys(RUNTIME_DEFAULT)), RUNTIME_DEFAULT);
    const unshare = await exec(id, ['/bin/busybox', 'unshare', '-U', '/bin/true']);
    assert.notEqual(unshare.code, 0);
    assert.match(unshare.err, /Operation not permitted/);
  });

  it('lets ordinary busybox commands run: a shell, files, owners, processes, time, and HTTP to the pod itself', async () => {
    const id = await container('ordinary', { seccomp: { profile_type: 'RuntimeDefault' } });
    const script = [
      'set -e',
      'mkdir -p /www/d',
      'echo hello > /www/d/x',
      'chmod 640 /www/d/x',
      'chown 1000:2000 /www/d/x',
      'stat -c "%a %u %g" /www/d/x',
      'ls /www/d',
      'cat /www/d/x',
      'id -u',
      'busybox date +%Y | grep -q "^20"',
      'sleep 0',
      'busybox httpd -p 127.0.0.1:8080 -h /www',
      'busybox wget -q -O - http://127.0.0.1:8080/d/x',
      'ps | grep -q "sleep 600"',
      'echo done',
    ].join('\n');
    const r = await exec(id, ['/bin/sh', '-c', script]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), ['640 1000 2000', 'x', 'hello', '0', 'hello', 'done']);
  });

  it('with CAP_SYS_ADMIN added: user namespaces (unshare -U, clone, clone3) work; io_uring and the keyring stay refused', async () => {
    const id = await container('admin', { seccomp: { profile_type: 'RuntimeDefault' }, capabilities: { add_capabilities: ['SYS_ADMIN'] } });
    assert.deepEqual(await probe(id, ['clone_newuser', 'clone3', 'clone3_newuser', 'unshare_user', 'io_uring_setup', 'keyctl', 'kexec_load']), {
      clone_newuser: 'ok', clone3: 'ok', clone3_newuser: 'ok', unshare_user: 'ok', io_uring_setup: 'EPERM', keyctl: 'EPERM', kexec_load: 'EPERM',
    });
    const unshare = await exec(id, ['/bin/busybox', 'unshare', '-U', '/bin/true']);
    assert.equal(unshare.code, 0, unshare.err);
  });

  it('Unconfined and privileged containers are not filtered: the kernel answers these calls itself', async () => {
    for (const [name, security] of [
      ['unconfined', { seccomp: { profile_type: 'Unconfined' } }],
      ['privileged', { seccomp: { profile_type: 'RuntimeDefault' }, privileged: true }],
    ] as const) {
      const id = await container(name, security);
      assert.match((await exec(id, ['/bin/grep', 'Seccomp:', '/proc/1/status'])).out, /^Seccomp:\t0$/m, name);
      const got = await probe(id, KERNEL_SAYS_NOT_EPERM);
      for (const call of KERNEL_SAYS_NOT_EPERM) assert.notEqual(got[call], 'EPERM', `${name}: ${call}`);
      assert.equal(got.io_uring_setup, 'ok', `${name}: io_uring_setup`);
    }
  });

  it("Localhost: Docker's includes and excludes are read against the container's capabilities", async () => {
    const profile = join(d.dir, 'no-userns-without-admin.json');
    await writeFile(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['io_uring_setup'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, includes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    }));
    const seccomp = { profile_type: 'Localhost' as const, localhost_ref: profile };
    const plain = await container('local-plain', { seccomp });
    assert.deepEqual(await probe(plain, ['unshare_user', 'io_uring_setup']), { unshare_user: 'EACCES', io_uring_setup: 'ok' });
    const admin = await container('local-admin', { seccomp, capabilities: { add_capabilities: ['SYS_ADMIN'] } });
    assert.deepEqual(await probe(admin, ['unshare_user', 'io_uring_setup']), { unshare_user: 'ok', io_uring_setup: 'ENOSYS' });
  });

  it("Localhost: a profile with Docker's whole archMap (both byte orders) loads, for the node's architecture", async () => {
    const profile = join(d.dir, 'docker-arch-map.json');
    await writeFile(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: DOCKER_ARCH_MAP,
      syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
    }));
    const id = await container('local-archmap', { seccomp: { profile_type: 'Localhost', localhost_ref: profile } });
    assert.match((await exec(id, ['/bin/grep', 'Seccomp:', '/proc/1/status'])).out, /^Seccomp:\t2$/m);
    assert.deepEqual(await probe(id, ['unshare_user', 'getcwd']), { unshare_user: 'EACCES', getcwd: 'ok' });
  });
});
