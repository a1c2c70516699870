import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { ExitStatusError, exitStatusOf, runFailure, usageError } from '../../src/cli/exit-status.js';

describe("cli: exit statuses, as docker's", () => {
  it("run: 127 not found, 126 not invocable, 125 anything else, from runc's words after exec:", () => {
    const runc = (what: string): CoracleError => new CoracleError('INTERNAL', `container 3f2a: create: runc: level=error msg="runc create failed: unable to start container process: ${what}"`);
    assert.equal(runFailure(runc('exec: "nosuch": executable file not found in $PATH')).exitStatus, 127);
    assert.equal(runFailure(runc('exec: "/bin/x": stat /bin/x: no such file or directory')).exitStatus, 127);
    assert.equal(runFailure(runc('exec: "/etc/passwd": permission denied')).exitStatus, 126);
    assert.equal(runFailure(runc('exec: "/etc": is a directory')).exitStatus, 126);
    // The same words elsewhere than the exec say nothing about the command.
    assert.equal(runFailure(new CoracleError('NOT_FOUND', 'mount /src: no such file or directory')).exitStatus, 125);
    assert.equal(runFailure(new CoracleError('PERMISSION_DENIED', 'open /var/lib/x: permission denied')).exitStatus, 125);
    assert.equal(runFailure(new CoracleError('NOT_FOUND', 'image "x": pull failed: HTTP 404')).exitStatus, 125);
    const cause = runc('exec: "y": executable file not found in $PATH');
    const mapped = runFailure(cause);
    assert.deepEqual([mapped.message, mapped.cause], [cause.message, cause]);
    // A status already decided stays.
    const decided = new ExitStatusError(125, 'no command specified');
    assert.equal(runFailure(decided), decided);
  });

  it('usage errors exit 2, anything else 1', () => {
    assert.equal(exitStatusOf(usageError('-H: bad')), 2);
    assert.equal(exitStatusOf(new CoracleError('NOT_FOUND', 'no such container: x')), 1);
    assert.equal(exitStatusOf(new Error('x')), 1);
  });
});
