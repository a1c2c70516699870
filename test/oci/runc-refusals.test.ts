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
    // runc 1.1's checkProcMount, for a mount under /proc off its allow-list.
    ['a mount under /proc that runc refuses', line('error during container init: error mounting \\"/tmp/x\\" to rootfs at \\"/proc/sys/kernel/hostname\\": \\"/run/c/rootfs/proc/sys/kernel/hostname\\" cannot be mounted because it is inside /proc'), 'INVALID_ARGUMENT'],
    ['an update of a container that has ended', '"container not running"', 'FAILED_PRECONDITION'],
    ['an exec in a stopped container', 'time="2026-01-01T00:00:00Z" level=error msg="exec failed: cannot exec in a stopped container"', 'FAILED_PRECONDITION'],
    // The command may hold runc's words: only the end of the line counts.
    ['a command that names a refusal but failed otherwise', line('exec: \\"executable file not found in $PATH\\": error mounting: device or resource busy'), undefined],
    ['a node fault', line('error during container init: error setting cgroup config: write /sys/fs/cgroup/x: device or resource busy'), undefined],
  ];
  for (const [what, message, code] of cases) it(`${what}: ${code ?? 'not the request (INTERNAL)'}`, () => assert.equal(runcRefusal(message), code));

  /*
   * The line repeats client-chosen commands and mount paths. Patterns of the form
   * `prefix.* to rootfs at .*: (endings)$` backtrack polynomially on a long line that almost
   * matches: on this node (Node 20) the old pattern took 24 ms on 8 KB of the first line below
   * and 274 ms on 16 KB, growing with the cube of the length: about a minute at 100 KB, the
   * event loop blocked all along. runcRefusal uses no regular
   * expression, only includes/indexOf and endsWith on a bounded tail, each linear in the line:
   * these lines are answered (no timing asserted: that they return at all within mocha's
   * timeout is the proof, and the answers are checked), and the same lengths with a real
   * ending still match, since the phrase before it is found anywhere in the line.
   */
  const KB100 = 100 * 1024;
  const adversarial: [string, string, string | undefined][] = [
    ['runc\'s mount phrases repeated, with no ending', line(`${'error during container init: error mounting  to rootfs at : '.repeat(Math.ceil(KB100 / 60))}x`), undefined],
    ['many ": " after exec with no ending', line(`exec: ${': '.repeat(KB100 / 2)}x`), undefined],
    ['many " set in config.json failed" with no ending', line(`chdir to cwd ${' set in config.json failed: '.repeat(KB100 / 28)}x`), undefined],
    ['a 100 KB mount path and a real ending', line(`error during container init: error mounting \\"${'/a'.repeat(KB100 / 2)}\\" to rootfs at \\"/x\\": mkdir /x: not a directory`), 'INVALID_ARGUMENT'],
    ['a 100 KB command that is not there', line(`exec: \\"${'x'.repeat(KB100)}\\": executable file not found in $PATH`), 'INVALID_ARGUMENT'],
  ];
  for (const [what, message, code] of adversarial) it(`a 100 KB line, ${what}: ${code ?? 'INTERNAL'}`, () => {
    assert.ok(message.length > KB100 - 100);
    assert.equal(runcRefusal(message), code);
  });
});
