import assert from 'node:assert/strict';
import { runcRefusal } from '../../src/oci/runc-refusals.js';

describe('oci/runc-refusals: runc failures the request caused', () => {
  const line = (msg: string): string => `time="2026-01-01T00:00:00Z" level=warning msg="cannot toggle freezer"\ntime="2026-01-01T00:00:00Z" level=error msg="runc create failed: unable to start container process: ${msg}"`;
  const cases: [string, string, string | undefined][] = [
    ['a command not in the image', line('exec: \\":_i~ma>;\\": executable file not found in $PATH'), 'INVALID_ARGUMENT'],
    ['a path that is not there', line('exec: \\"/bin/nope\\": stat /bin/nope: no such file or directory'), 'INVALID_ARGUMENT'],
    ['a file that is not a program', line('exec /etc/passwd: exec format error'), 'INVALID_ARGUMENT'],
    ['a command name past NAME_MAX', line('exec: \\"aaaa\\": stat aaaa: file name too long'), 'INVALID_ARGUMENT'],
    ['a command that names a directory', line('exec: \\"/etc\\": is a directory'), 'INVALID_ARGUMENT'],
    ['a working dir that is a file', line('chdir to cwd (\\"/etc/hostname\\") set in config.json failed: not a directory'), 'INVALID_ARGUMENT'],
    ['a file mounted onto a dir', line('error during container init: error mounting \\"/etc/hostname\\" to rootfs at \\"/sys/fs/cgroup\\": mount /etc/hostname:/sys/fs/cgroup (via /proc/self/fd/6), flags: 0x5001: not a directory'), 'INVALID_ARGUMENT'],
    ['a dir mounted onto a file', line('error during container init: mkdir /etc/resolv.conf: not a directory'), 'INVALID_ARGUMENT'],
    ["a log path that is a dir (conmon's words)", '[conmon:e]: Failed to open log file Is a directory', 'INVALID_ARGUMENT'],
    ['an update of a container that has ended', '"container not running"', 'FAILED_PRECONDITION'],
    // The command may hold runc's words: only the end of the line counts.
    ['a command that names a refusal but failed otherwise', line('exec: \\"executable file not found in $PATH\\": error mounting: device or resource busy'), undefined],
    ['a node fault', line('error during container init: error setting cgroup config: write /sys/fs/cgroup/x: device or resource busy'), undefined],
  ];
  for (const [what, message, code] of cases) it(`${what}: ${code ?? 'not the request (INTERNAL)'}`, () => assert.equal(runcRefusal(message), code));
});
