/**
 * The data of Coracle's RuntimeDefault seccomp profile; src/oci/seccomp-profile.ts turns it
 * into the OCI spec's linux.seccomp for one container. It is an allow-list: what is not named
 * here fails with EPERM. The lists follow what Docker's, containerd's and CRI-O's default
 * profiles allow (Docker's as of 2026: io_uring and AF_ALG already out), grouped by what the
 * calls do: those an ordinary process needs, those only a capability makes safe, and a few
 * allowed only with particular arguments. Left out on purpose: io_uring (its rings run file and socket
 * operations that seccomp never sees), user and mount namespaces and mounts without
 * CAP_SYS_ADMIN, the keyring (keyctl, add_key, request_key), userfaultfd, kexec, and every
 * call that changes the host (modules, clock, swap, reboot, accounting).
 *
 * Names unknown to a runc's libseccomp (newer calls on an older runc) are skipped by runc;
 * runc answers ENOSYS, not EPERM, for calls newer than any named here, so that libc falls back.
 */

/** The architectures Coracle runs on, by their kernel names. */
export type SeccompArch = 'x86_64' | 'aarch64';

/** Calls any container may make. */
export const ALWAYS_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  files: [
    'access', 'cachestat', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat',
    'dup', 'dup2', 'dup3', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fchdir', 'fchmod',
    'fchmodat', 'fchmodat2', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'flock', 'fstat',
    'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futimesat', 'getcwd',
    'getdents', 'getdents64', 'lchown', 'lchown32', 'link', 'linkat', 'listmount', '_llseek', 'lseek', 'lstat',
    'lstat64', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat', 'openat2',
    'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat',
    'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'splice', 'stat', 'stat64',
    'statfs', 'statfs64', 'statmount', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee',
    'truncate', 'truncate64', 'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes',
    'vmsplice', 'write', 'writev',
  ],
  xattrs: [
    'fgetxattr', 'flistxattr', 'fremovexattr', 'fsetxattr', 'getxattr', 'getxattrat', 'lgetxattr', 'listxattr',
    'listxattrat', 'llistxattr', 'lremovexattr', 'lsetxattr', 'removexattr', 'removexattrat', 'setxattr', 'setxattrat',
  ],
  'waiting on files and events': [
    'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
    'epoll_wait_old', 'eventfd', 'eventfd2', 'fanotify_mark', 'inotify_add_watch', 'inotify_init', 'inotify_init1',
    'inotify_rm_watch', '_newselect', 'pipe', 'pipe2', 'poll', 'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select',
    'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime',
    'timerfd_settime64',
  ],
  'asynchronous I/O (the old io_* calls, not io_uring)': [
    'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit',
    'ioprio_get', 'ioprio_set',
  ],
  memory: [
    'brk', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock', 'mlock2',
    'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap', 'mseal', 'msync', 'munlock', 'munlockall', 'munmap',
    'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'process_mrelease', 'remap_file_pages',
  ],
  'processes and threads': [
    'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'get_robust_list', 'get_thread_area',
    'getcpu', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getrlimit', 'getrusage',
    'getsid', 'gettid', 'ioctl', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
    'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'restart_syscall', 'rseq', 'sched_get_priority_max',
    'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_getscheduler',
    'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
    'sched_setscheduler', 'sched_yield', 'seccomp', 'set_robust_list', 'set_thread_area', 'set_tid_address',
    'setpgid', 'setpriority', 'setrlimit', 'setsid', 'sysinfo', 'times', 'ugetrlimit', 'uname', 'uretprobe', 'vfork',
    'wait4', 'waitid', 'waitpid',
  ],
  'user and group ids': [
    'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getresgid',
    'getresgid32', 'getresuid', 'getresuid32', 'getuid', 'getuid32', 'setfsgid', 'setfsgid32', 'setfsuid',
    'setfsuid32', 'setgid', 'setgid32', 'setgroups', 'setgroups32', 'setregid', 'setregid32', 'setresgid',
    'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setuid', 'setuid32',
  ],
  signals: [
    'alarm', 'getitimer', 'kill', 'pause', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
    'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'setitimer',
    'sigaltstack', 'sigprocmask', 'sigreturn', 'tgkill', 'tkill',
  ],
  'time (reading it; adjtimex and clock_adjtime change it only with CAP_SYS_TIME)': [
    'adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
    'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep', 'time',
    'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
    'timer_settime64',
  ],
  futexes: ['futex', 'futex_requeue', 'futex_time64', 'futex_wait', 'futex_waitv', 'futex_wake'],
  'sockets (socket itself is allowed by family, below)': [
    'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom',
    'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown',
    'socketcall', 'socketpair',
  ],
  'System V and POSIX IPC': [
    'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
    'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop',
    'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
  ],
};

/**
 * Calls of one architecture (its compat one included: x86 and x32 under x86_64, 32-bit arm
 * under aarch64).
 */
export const ARCH_ALLOWED: Readonly<Record<SeccompArch, readonly string[]>> = {
  x86_64: ['arch_prctl', 'modify_ldt'],
  aarch64: ['arm_fadvise64_64', 'arm_sync_file_range', 'breakpoint', 'cacheflush', 'set_tls', 'sync_file_range2'],
};

/** The libseccomp architectures a filter of each covers. */
export const SCMP_ARCHES: Readonly<Record<SeccompArch, readonly string[]>> = {
  x86_64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  aarch64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/**
 * Calls allowed from a kernel version on: from 4.8 a seccomp filter is checked again after a
 * tracer changes the call, so ptrace can no longer be used to slip past the filter.
 */
export const ALLOWED_FROM_KERNEL: readonly { kernel: readonly [number, number]; names: readonly string[] }[] = [
  { kernel: [4, 8], names: ['process_vm_readv', 'process_vm_writev', 'ptrace'] },
];

/** Calls a capability makes safe: allowed when the container's effective set has it. */
export const CAPABILITY_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'lsm_get_self_attr', 'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'mount_setattr', 'move_mount', 'open_tree',
    'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount',
    'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'finit_module', 'init_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['ioperm', 'iopl'],
  CAP_SYS_TIME: ['clock_settime', 'clock_settime64', 'settimeofday', 'stime'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

// Flag values from the kernel's uapi headers (linux/sched.h, linux/personality.h, linux/socket.h).
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
/** clone's namespace flags (CLONE_NEWTIME only exists for clone3 and unshare). */
export const CLONE_NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

/**
 * The personality values a process may set: plain Linux, UNAME26, ADDR_NO_RANDOMIZE (with and
 * without UNAME26), and 0xffffffff, which only reads the current one.
 */
export const PERSONALITIES: readonly number[] = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

/**
 * Socket families refused: AF_ALG (38, the kernel's crypto API, a frequent source of
 * exploitable bugs) and AF_VSOCK (40, a way to the hypervisor or host). Every other family
 * is allowed. Known gap, as in Docker's profile (which allows socketcall outright): a 32-bit
 * x86 program's socketcall(SYS_SOCKET, args) passes the family in memory, which seccomp
 * cannot read, so it can still open these families. socketcall stays allowed because 32-bit
 * x86 glibc makes every socket call through it; refusing it would cut such images off the
 * network. A node that must close this gap turns off IA-32 emulation (ia32_emulation=0 on
 * the kernel command line, or a kernel built without it).
 */
export const REFUSED_SOCKET_FAMILIES: readonly number[] = [38, 40];

/** errno values the profile answers with. */
export const EPERM = 1;
export const ENOSYS = 38;
