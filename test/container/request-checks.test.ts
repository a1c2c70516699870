import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CoracleError } from '../../src/errors.js';
import type { ContainerSpec } from '../../src/container/container-service.js';
import { vetContainerSpec } from '../../src/container/request-checks.js';
import { parseIdList, vetResources } from '../../src/container/resource-checks.js';
import type { Resources } from '../../src/oci/spec.js';

type R = Resources & { oomScoreAdj?: number };

/** Refused as INVALID_ARGUMENT, with a message matching `message`. */
async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CoracleError, String(err));
    assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe('container/resource-checks: limits the kernel would refuse are INVALID_ARGUMENT', () => {
  it('parses kernel id lists, and nothing else', () => {
    const cases: [string, number[] | undefined][] = [
      ['0', [0]], ['0-3', [0, 1, 2, 3]], ['0,2-3,7', [0, 2, 3, 7]], ['1,1', [1]],
      ['', undefined], ['x', undefined], ['1-0', undefined], ['0,,1', undefined], ['-1', undefined], ['0-', undefined], [' 0', undefined], ['0-99999', undefined], ['123456', undefined],
    ];
    for (const [text, want] of cases) assert.deepEqual(parseIdList(text), want, JSON.stringify(text));
  });

  const accepted: [string, R][] = [
    ['nothing set', {}],
    ['all zero (unset)', { cpuShares: 0, cpuQuota: 0, cpuPeriod: 0, memoryLimit: 0, oomScoreAdj: 0 }],
    ["kubelet's least shares", { cpuShares: 2 }],
    ['the most shares', { cpuShares: 262_144 }],
    ['a quota of half a cpu', { cpuQuota: 50_000, cpuPeriod: 100_000 }],
    ['no quota (-1)', { cpuQuota: -1 }],
    ['the shortest and longest periods', { cpuPeriod: 1_000 }],
    ['the largest quota', { cpuQuota: 2 ** 44 - 1 }],
    ['64 MiB', { memoryLimit: 64 << 20 }],
    ['no memory limit (-1)', { memoryLimit: -1 }],
    ['oom_score_adj at both ends', { oomScoreAdj: -1000 }],
    ['cpu 0 and node 0', { cpusetCpus: '0', cpusetMems: '0' }],
  ];
  for (const [what, r] of accepted) it(`accepts ${what}`, () => vetResources(r));

  it('accepts every cpu this node has online', async () => vetResources({ cpusetCpus: (await readFile('/sys/devices/system/cpu/online', 'utf8')).trim() }));

  const refusedCases: [string, R, RegExp][] = [
    ['shares of 1 (the kernel clamps, runc refuses)', { cpuShares: 1 }, /^resources: cpu_shares 1: must be between 2 and 262144/],
    ['shares past 262144', { cpuShares: 262_145 }, /cpu_shares 262145/],
    ['negative shares', { cpuShares: -5 }, /cpu_shares -5/],
    ['int64 max shares (not exact in a double)', { cpuShares: Number('9223372036854775807') }, /cpu_shares 9223372036854776000/],
    ['a period under 1 ms', { cpuPeriod: 999 }, /cpu_period 999: must be between 1000 and 1000000/],
    ['a period over 1 s', { cpuPeriod: 1_000_001 }, /cpu_period/],
    ['a quota under 1 ms', { cpuQuota: 500 }, /cpu_quota 500: must be between 1000 and 17592186044415 \(or -1\)/],
    ['a negative quota other than -1', { cpuQuota: -2 }, /cpu_quota -2/],
    ['a quota past the kernel maximum', { cpuQuota: 2 ** 44 }, /cpu_quota/],
    ['a memory limit of 5 bytes', { memoryLimit: 5 }, /memory_limit_in_bytes 5: must be between 12582912/],
    ['a negative memory limit other than -1', { memoryLimit: -5 }, /memory_limit_in_bytes -5/],
    ['a memory limit past 2^53', { memoryLimit: Number('9223372036854775807') }, /memory_limit_in_bytes/],
    ['oom_score_adj 1001', { oomScoreAdj: 1001 }, /oom_score_adj 1001: must be between -1000 and 1000/],
    ['oom_score_adj -2^31', { oomScoreAdj: -(2 ** 31) }, /oom_score_adj/],
    ['a cpuset that is not a list', { cpusetCpus: 'x' }, /cpuset_cpus "x": not a list of ids/],
    ['a reversed range', { cpusetCpus: '1-0' }, /cpuset_cpus "1-0": not a list/],
    ['a cpu this node lacks', { cpusetCpus: '0,4095' }, /cpuset_cpus "0,4095": 4095 not online on this node \(online: 0/],
    ['a memory node this node lacks', { cpusetMems: '7' }, /cpuset_mems "7": 7 not online/],
    ['a NUMA-less list syntax error', { cpusetMems: '0-' }, /cpuset_mems "0-": not a list/],
  ];
  for (const [what, r, message] of refusedCases) it(`refuses ${what}`, () => refused(vetResources(r), message));

  it('names the container in an update', () => refused(vetResources({ cpuShares: 1 }, 'container abc: resources'), /^container abc: resources: cpu_shares 1/));
});

describe('container/request-checks: vetContainerSpec', () => {
  const base = (): ContainerSpec => ({
    sandboxId: 'p', metadata: { name: 'c', attempt: 0 }, image: 'busybox', command: ['/bin/true'], args: [], workingDir: '', env: [], mounts: [], devices: [],
    labels: {}, annotations: {}, logPath: '', stdin: false, stdinOnce: false, tty: false, resources: {},
    security: { privileged: false, capAdd: [], capDrop: [], pid: 'CONTAINER', supplementalGroups: [], readonlyRootfs: false, noNewPrivileges: false, maskedPaths: [], readonlyPaths: [], seccomp: { kind: 'runtime-default' } },
  });
  const edit = (f: (s: ContainerSpec) => void): ContainerSpec => {
    const s = base();
    f(s);
    return s;
  };
  const accepted: [string, ContainerSpec][] = [
    ['a plain spec', base()],
    ['an absolute working dir', edit((s) => (s.workingDir = '/srv/x'))],
    ["kubelet's log path and a mount under /proc's name", edit((s) => ((s.logPath = 'c/0.log'), (s.mounts = [{ hostPath: '/tmp', containerPath: '/procfs', readonly: true, propagation: 'private' }])))],
    // runc's allow-list (checkProcMount, runc 1.1): the files lxcfs emulates. Others under /proc are runc's to refuse.
    ...['/proc/meminfo', '/proc/cpuinfo', '/proc/stat', '/proc/diskstats', '/proc/swaps', '/proc/uptime', '/proc/loadavg'].map((p): [string, ContainerSpec] => [
      `an lxcfs-style mount onto ${p}`,
      edit((s) => (s.mounts = [{ hostPath: `/var/lib/lxcfs${p}`, containerPath: p, readonly: true, propagation: 'private' }])),
    ]),
    ['uid and gid 0', edit((s) => Object.assign(s.security, { runAsUser: 0, runAsGroup: 0 }))],
    ["the highest uid, gid and group runc takes (2^31-1)", edit((s) => Object.assign(s.security, { runAsUser: 2 ** 31 - 1, runAsGroup: 2 ** 31 - 1, supplementalGroups: [2 ** 31 - 1] }))],
  ];
  for (const [what, spec] of accepted) it(`accepts ${what}`, () => vetContainerSpec(spec));

  const refusedCases: [string, ContainerSpec, RegExp][] = [
    ['a relative working dir (runc refuses it)', edit((s) => (s.workingDir = 'relative/dir')), /^working dir "relative\/dir": must be an absolute path$/],
    ['a working dir of ".."', edit((s) => (s.workingDir = '..')), /working dir "\.\.": must be an absolute path/],
    ['uid -1', edit((s) => (s.security.runAsUser = -1)), /^security context: run_as_user -1: must be between 0 and 2147483647/],
    ['uid 2^31 (runc: "uids and gids must be in range 0-2147483647")', edit((s) => (s.security.runAsUser = 2 ** 31)), /run_as_user 2147483648/],
    ['uid 2^32-1 (no id)', edit((s) => (s.security.runAsUser = 2 ** 32 - 1)), /run_as_user 4294967295/],
    ['gid past uint32', edit((s) => (s.security.runAsGroup = 2 ** 40)), /run_as_group 1099511627776/],
    ['a negative supplemental group', edit((s) => (s.security.supplementalGroups = [5, -3])), /supplemental group -3/],
    ['int64 max uid', edit((s) => (s.security.runAsUser = Number('9223372036854775807'))), /run_as_user/],
    ['shares of 1, through the resource checks', edit((s) => (s.resources.cpuShares = 1)), /^resources: cpu_shares 1/],
    ['a NUL in the working dir', edit((s) => (s.workingDir = '/a\0b')), /NUL/],
    ['an empty env name (runc refuses it)', edit((s) => (s.env = [{ key: '', value: '!@' }])), /^env "": a name must be non-empty and hold no "="$/],
    ['an env name with "="', edit((s) => (s.env = [{ key: 'A=B', value: 'c' }])), /env "A=B"/],
    ['a relative device path in the container', edit((s) => (s.devices = [{ hostPath: '/dev/null', containerPath: 'dev/x', permissions: 'rwm' }])), /^device \/dev\/null: container path "dev\/x" must be absolute$/],
    ['device permissions other than rwm', edit((s) => (s.devices = [{ hostPath: '/dev/null', containerPath: '/dev/x', permissions: 'xyz' }])), /permissions "xyz": only r, w and m/],
    ['a mount over /proc (runc needs it)', edit((s) => (s.mounts = [{ hostPath: '/tmp', containerPath: '/proc', readonly: true, propagation: 'private' }])), /^mount \/tmp:\/proc: not over the root or \/proc$/],
    ['a mount over /proc/ (a trailing slash)', edit((s) => (s.mounts = [{ hostPath: '/tmp', containerPath: '/proc/', readonly: true, propagation: 'private' }])), /^mount \/tmp:\/proc\/: not over the root or \/proc$/],
    ['a mount over /proc by way of ..', edit((s) => (s.mounts = [{ hostPath: '/tmp', containerPath: '/proc/sys/..', readonly: true, propagation: 'private' }])), /not over the root or \/proc/],
    ['a mount over the root', edit((s) => (s.mounts = [{ hostPath: '/tmp', containerPath: '/a/..', readonly: true, propagation: 'private' }])), /not over the root/],
    ['a log path out of the log dir', edit((s) => (s.logPath = '../x.log')), /^log path "\.\.\/x\.log": must be a file name relative/],
    ['an absolute log path', edit((s) => (s.logPath = '/var/log/x')), /log path "\/var\/log\/x"/],
    ['a log path naming a dir', edit((s) => (s.logPath = 'c/')), /log path "c\/"/],
    ['an empty masked path (runc lstat()s it)', edit((s) => (s.security.maskedPaths = [''])), /^masked path "": must be absolute$/],
    ['/proc masked (runc reads /proc/self/fd to start the process)', edit((s) => (s.security.maskedPaths = ['/proc/'])), /^masked path "\/proc\/": not the root or \/proc$/],
    ['the root masked', edit((s) => (s.security.maskedPaths = ['/'])), /^masked path "\/": not the root or \/proc$/],
    ['a relative read-only path', edit((s) => (s.security.readonlyPaths = ['proc/sys'])), /^read-only path "proc\/sys": must be absolute$/],
  ];
  for (const [what, spec, message] of refusedCases) it(`refuses ${what}`, () => refused(vetContainerSpec(spec), message));
});
