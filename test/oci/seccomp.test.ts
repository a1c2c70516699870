import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { CoracleError, isErrno } from '../../src/errors.js';
import { DEFAULT_CAPABILITIES, ALL_CAPABILITIES } from '../../src/oci/defaults.js';
import { profileToOci, seccompFor } from '../../src/oci/seccomp.js';
import { CAPABILITY_ALLOWED, REFUSED_SOCKET_FAMILIES } from '../../src/oci/seccomp-default.js';
import { kernelVersion, nodeArch, runtimeDefaultProfile, socketFamilyRules, type OciSeccomp, type OciSeccompArg, type SeccompArch, type SeccompContext } from '../../src/oci/seccomp-profile.js';
import { refusedWith } from '../helpers/coracle-error.js';
import { tempDir } from '../helpers/daemon.js';
import { DOCKER_ARCH_MAP } from '../helpers/docker-arch-map.js';

const ctx = (over: Partial<SeccompContext> = {}): SeccompContext => ({ arch: 'x86_64', capabilities: DEFAULT_CAPABILITIES, kernel: [6, 1], ...over });

/** What a profile does with a call made with no particular arguments: allowed outright, by its arguments, an errno, or the default. */
function verdict(p: OciSeccomp, name: string): string {
  const rules = p.syscalls.filter((s) => s.names.includes(name));
  if (rules.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)) return 'allow';
  if (rules.length > 0 && rules.every((r) => r.action === 'SCMP_ACT_ALLOW')) return 'args';
  const errno = rules.find((r) => r.action === 'SCMP_ACT_ERRNO');
  if (errno) return `errno ${errno.errnoRet}`;
  return `default errno ${p.defaultErrnoRet}`;
}

const NEVER_WITHOUT_A_CAP = [
  'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'keyctl', 'add_key', 'request_key', 'userfaultfd',
  'kexec_load', 'kexec_file_load', 'bpf', 'perf_event_open', 'mount', 'umount2', 'unshare', 'setns', 'fsopen',
  'open_tree', 'move_mount', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'swapoff', 'acct',
  'settimeofday', 'clock_settime', 'iopl', 'ioperm', 'syslog', 'open_by_handle_at', 'kcmp', 'pidfd_getfd',
  'set_mempolicy', 'mbind', 'vhangup', 'sethostname', 'pivot_root', 'quotactl', 'lookup_dcookie', 'uselib',
  'nfsservctl', 'create_module', '_sysctl', 'vm86',
];

describe('oci/seccomp: the RuntimeDefault profile', () => {
  it('is an allow-list: EPERM by default, for the node\'s architecture and its compat ones', () => {
    const p = runtimeDefaultProfile(ctx());
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(runtimeDefaultProfile(ctx({ arch: 'aarch64' })).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  // [what, context, call, verdict]
  const cases: [string, Partial<SeccompContext>, string, string][] = [
    ['ordinary calls', {}, 'read', 'allow'],
    ['execve', {}, 'execve', 'allow'],
    ['pipes', {}, 'pipe2', 'allow'],
    ['chroot with the default CAP_SYS_CHROOT', {}, 'chroot', 'allow'],
    ['chroot without it', { capabilities: [] }, 'chroot', 'default errno 1'],
    ['ptrace on a kernel that rechecks the filter after a tracer (4.8)', { kernel: [4, 8] }, 'ptrace', 'allow'],
    ['ptrace before 4.8', { kernel: [4, 4] }, 'ptrace', 'default errno 1'],
    ['ptrace before 4.8, with CAP_SYS_PTRACE', { kernel: [4, 4], capabilities: ['CAP_SYS_PTRACE'] }, 'ptrace', 'allow'],
    ['arch_prctl on x86_64', {}, 'arch_prctl', 'allow'],
    ['arch_prctl on aarch64', { arch: 'aarch64' }, 'arch_prctl', 'default errno 1'],
    ['set_tls on aarch64', { arch: 'aarch64' }, 'set_tls', 'allow'],
    ['set_tls on x86_64', {}, 'set_tls', 'default errno 1'],
    ['clone: only by its flags', {}, 'clone', 'args'],
    ['clone with CAP_SYS_ADMIN', { capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'] }, 'clone', 'allow'],
    ['clone3 answers ENOSYS', {}, 'clone3', 'errno 38'],
    ['clone3 with CAP_SYS_ADMIN', { capabilities: ['CAP_SYS_ADMIN'] }, 'clone3', 'allow'],
    ['unshare with CAP_SYS_ADMIN', { capabilities: ['CAP_SYS_ADMIN'] }, 'unshare', 'allow'],
    ['socket: by family', {}, 'socket', 'args'],
    ['personality: by value', {}, 'personality', 'args'],
    ['io_uring even with every capability', { capabilities: ALL_CAPABILITIES }, 'io_uring_setup', 'default errno 1'],
    ['keyctl even with every capability', { capabilities: ALL_CAPABILITIES }, 'keyctl', 'default errno 1'],
    ['kexec even with every capability', { capabilities: ALL_CAPABILITIES }, 'kexec_load', 'default errno 1'],
    ['userfaultfd even with every capability', { capabilities: ALL_CAPABILITIES }, 'userfaultfd', 'default errno 1'],
    ['bpf with CAP_BPF', { capabilities: ['CAP_BPF'] }, 'bpf', 'allow'],
    ['perf_event_open with CAP_PERFMON', { capabilities: ['CAP_PERFMON'] }, 'perf_event_open', 'allow'],
    ['syslog with CAP_SYSLOG', { capabilities: ['CAP_SYSLOG'] }, 'syslog', 'allow'],
    ['mbind with CAP_SYS_NICE', { capabilities: ['CAP_SYS_NICE'] }, 'mbind', 'allow'],
    ['open_by_handle_at with CAP_DAC_READ_SEARCH', { capabilities: ['CAP_DAC_READ_SEARCH'] }, 'open_by_handle_at', 'allow'],
  ];
  for (const [what, over, call, want] of cases) {
    it(`${what}: ${call} → ${want}`, () => assert.equal(verdict(runtimeDefaultProfile(ctx(over)), call), want));
  }

  for (const call of NEVER_WITHOUT_A_CAP) {
    it(`${call}: refused with containerd's default capabilities`, () => assert.equal(verdict(runtimeDefaultProfile(ctx()), call), 'default errno 1'));
  }

  it('clone: allowed only with none of the namespace flags (masked, on the flags argument)', () => {
    const rule = runtimeDefaultProfile(ctx()).syscalls.find((s) => s.names.includes('clone'))!;
    // CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
    assert.deepEqual(rule.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  });

  /** Whether socket(family) passes these rules, compared as libseccomp does on a 64-bit architecture: all 64 bits. */
  const socketAllowed = (rules: OciSeccompArg[][], family: bigint): boolean =>
    rules.some((args) => args.every((a) => {
      assert.equal(a.op, 'SCMP_CMP_MASKED_EQ');
      return (family & BigInt(a.value)) === BigInt(a.valueTwo!);
    }));

  it('socket: every family but AF_ALG (38) and AF_VSOCK (40), compared on the low 32 bits only', () => {
    const rules = runtimeDefaultProfile(ctx()).syscalls.filter((s) => s.names.includes('socket')).map((r) => r.args!);
    assert.deepEqual(rules, socketFamilyRules(REFUSED_SOCKET_FAMILIES));
    for (const r of rules) for (const a of r) assert.ok(a.value < 2 ** 32 && a.valueTwo! < 2 ** 32, 'no mask or value above 32 bits');
    for (let f = 0n; f < 64n; f++) assert.equal(socketAllowed(rules, f), f !== 38n && f !== 40n, `family ${f}`);
    // The kernel keeps only the low 32 bits of the family: these are AF_ALG, AF_VSOCK and AF_INET to it.
    assert.equal(socketAllowed(rules, 0x1_0000_0026n), false);
    assert.equal(socketAllowed(rules, 0xffff_ffff_0000_0028n), false);
    assert.equal(socketAllowed(rules, 0xffff_ffff_0000_0002n), true);
    assert.equal(socketAllowed(rules, 0xffff_ffff_ffff_ffffn), true, '-1: the kernel answers it');
  });

  it('socket rules: for any refused set and any 64-bit family, allowed exactly when its low 32 bits are not refused', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })), { maxLength: 6 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: 64 }),
        (refused, high, low) => {
          const rules = socketFamilyRules(refused);
          assert.ok(rules.length <= 64 * (refused.length + 1));
          for (const family of [high, (high & 0xffff_ffff_0000_0000n) | BigInt(low), ...refused.map((v) => (high & 0xffff_ffff_0000_0000n) | BigInt(v))]) {
            assert.equal(socketAllowed(rules, family), !refused.includes(Number(family & 0xffff_ffffn)), `family 0x${family.toString(16)}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('personality: the usual values only', () => {
    const rules = runtimeDefaultProfile(ctx()).syscalls.filter((s) => s.names.includes('personality'));
    assert.deepEqual(rules.map((r) => r.args![0]!.value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  for (const [cap, names] of Object.entries(CAPABILITY_ALLOWED)) {
    it(`${cap} alone allows ${names.join(', ')}`, () => {
      // A kernel before 4.8, where ptrace needs CAP_SYS_PTRACE too.
      const without = runtimeDefaultProfile(ctx({ capabilities: [], kernel: [4, 4] }));
      const withIt = runtimeDefaultProfile(ctx({ capabilities: [cap], kernel: [4, 4] }));
      for (const n of names) {
        assert.equal(verdict(withIt, n), 'allow', n);
        assert.notEqual(verdict(without, n), 'allow', n);
      }
    });
  }

  it('for any architecture, kernel and capability set: well formed, no io_uring, each call in one kind of rule', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<SeccompArch>('x86_64', 'aarch64'),
        fc.subarray([...ALL_CAPABILITIES]),
        fc.tuple(fc.integer({ min: 3, max: 7 }), fc.integer({ min: 0, max: 20 })),
        (arch, capabilities, kernel) => {
          const p = runtimeDefaultProfile({ arch, capabilities, kernel });
          const outright = p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names);
          assert.equal(new Set(outright).size, outright.length, 'no name twice');
          for (const s of p.syscalls) {
            assert.ok(s.names.length > 0);
            if (s.args || s.action !== 'SCMP_ACT_ALLOW') for (const n of s.names) assert.ok(!outright.includes(n), `${n} also has a narrower rule`);
          }
          assert.ok(!outright.some((n) => n.startsWith('io_uring')));
          const admin = capabilities.includes('CAP_SYS_ADMIN');
          assert.equal(verdict(p, 'clone3'), admin ? 'allow' : 'errno 38');
          assert.equal(verdict(p, 'clone'), admin ? 'allow' : 'args');
          assert.equal(verdict(p, 'unshare'), admin ? 'allow' : 'default errno 1');
          assert.equal(verdict(p, 'ptrace'), capabilities.includes('CAP_SYS_PTRACE') || kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 8) ? 'allow' : 'default errno 1');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads the node: x64 and arm64 have profiles, others none; kernel versions parse', () => {
    assert.equal(nodeArch('x64'), 'x86_64');
    assert.equal(nodeArch('arm64'), 'aarch64');
    assert.equal(nodeArch('s390x'), undefined);
    assert.deepEqual(kernelVersion('6.1.0-18-amd64'), [6, 1]);
    assert.deepEqual(kernelVersion('4.19.0'), [4, 19]);
    assert.deepEqual(kernelVersion('weird'), [0, 0]);
  });
});

describe('oci/seccomp: profile files', () => {
  const cases: [string, object, object | RegExp][] = [
    ['names and action', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] }, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] }],
    ['a single name, errnoRet', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'mount', action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] }, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] }],
    ['Docker archMap', { defaultAction: 'SCMP_ACT_ERRNO', archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }], syscalls: [] }, { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [] }],
    ['defaultErrnoRet', { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [] }, { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [] }],
    ['no defaultAction', { syscalls: [] }, /no defaultAction/],
    ['a rule without names', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }, /syscalls\[0\] needs names and an action/],
    ['a bad minKernel', { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: 'new' } }] }, /minKernel "new"/],
  ];
  for (const [what, doc, want] of cases) {
    it(what, () => {
      if (want instanceof RegExp) assert.throws(() => profileToOci(doc, 'p.json', ctx()), want);
      else assert.deepEqual(profileToOci(doc, 'p.json', ctx()), want);
    });
  }

  it("Docker's whole archMap: only the node's entry and its sub-architectures (libseccomp will not mix byte orders)", () => {
    const archMap = DOCKER_ARCH_MAP;
    const arches = (map: typeof archMap, arch: SeccompArch): string[] | undefined =>
      profileToOci({ defaultAction: 'SCMP_ACT_ERRNO', archMap: map, syscalls: [] }, 'p.json', ctx({ arch })).architectures;
    assert.deepEqual(arches(archMap, 'x86_64'), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(arches(archMap, 'aarch64'), ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.equal(arches(archMap.slice(2), 'x86_64'), undefined, 'no entry for the node: the native architecture only');
    assert.deepEqual(arches([{ architecture: 'SCMP_ARCH_AARCH64', subArchitectures: null }], 'aarch64'), ['SCMP_ARCH_AARCH64']);
  });

  it("applies Docker's includes and excludes against the container's capabilities, the node's arch and kernel", () => {
    const doc = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
        { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
        { names: ['old'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '5.0' } },
      ],
    };
    const names = (c: Partial<SeccompContext>): string[] => profileToOci(doc, 'p.json', ctx(c)).syscalls.flatMap((s) => s.names);
    assert.deepEqual(names({}), ['read', 'clone', 'arch_prctl', 'ptrace']);
    assert.deepEqual(names({ capabilities: ['CAP_SYS_ADMIN'] }), ['read', 'mount', 'arch_prctl', 'ptrace']);
    assert.deepEqual(names({ arch: 'aarch64', kernel: [4, 4] }), ['read', 'clone', 'set_tls', 'old']);
  });
});

describe('oci/seccomp: reading a Localhost profile file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir('coracle-seccomp-file-');
  });

  const refused = (p: Promise<unknown>, message: RegExp): Promise<CoracleError> => refusedWith(p, 'INVALID_ARGUMENT', message);

  it('a FIFO is refused without blocking; bad JSON keeps the parser\'s error as cause; a missing file keeps ENOENT; null is not a profile', async () => {
    const container = { privileged: false, capabilities: [] };
    const fifo = join(dir, 'profile-fifo');
    execFileSync('mkfifo', [fifo]);
    await refused(seccompFor({ kind: 'localhost', path: fifo }, container), new RegExp(`^seccomp profile ${fifo}: not a regular file$`));
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"defaultAction": ');
    const err = await refused(seccompFor({ kind: 'localhost', path: bad }, container), new RegExp(`^seccomp profile ${bad}: not JSON: `));
    assert.ok(err.cause instanceof SyntaxError, 'the parser\'s error is the cause');
    await writeFile(bad, 'null');
    await refused(seccompFor({ kind: 'localhost', path: bad }, container), /not a JSON object/);
    const missing = join(dir, 'missing.json');
    const gone = await refused(seccompFor({ kind: 'localhost', path: missing }, container), /seccomp profile .*missing\.json: cannot open: .*ENOENT/);
    assert.ok(isErrno(gone.cause, 'ENOENT'));
  });
});
