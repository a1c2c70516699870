import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { onResize, statusPayload, type Outcome } from '../../src/streaming/remote-command.js';

describe('streaming: remotecommand', () => {
  it('error stream payloads, per outcome and protocol version', () => {
    const cases: [Outcome, boolean, unknown][] = [
      [{ kind: 'exited', exitCode: 0, command: ['true'] }, true, { metadata: {}, status: 'Success' }],
      [{ kind: 'detached' }, true, { metadata: {}, status: 'Success' }],
      [
        { kind: 'exited', exitCode: 3, command: ['sh', '-c', 'exit 3'] },
        true,
        {
          metadata: {},
          status: 'Failure',
          message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
          reason: 'NonZeroExitCode',
          details: { causes: [{ reason: 'ExitCode', message: '3' }] },
        },
      ],
      [{ kind: 'failed', message: 'boom' }, true, { metadata: {}, status: 'Failure', message: 'Internal error occurred: boom', reason: 'InternalError', details: { causes: [{ message: 'boom' }] }, code: 500 }],
      [{ kind: 'exited', exitCode: 0, command: ['true'] }, false, undefined],
      [{ kind: 'exited', exitCode: 1, command: ['false'] }, false, 'command terminated with non-zero exit code: error executing command [false], exit code 1'],
      [{ kind: 'failed', message: 'boom' }, false, 'Internal error occurred: boom'],
    ];
    for (const [outcome, v4, want] of cases) {
      const got = statusPayload(outcome, v4);
      assert.deepEqual(got === undefined ? undefined : v4 ? JSON.parse(got.toString()) : got.toString(), want, JSON.stringify(outcome));
    }
  });

  it('reads terminal sizes as Go writes them, split anywhere, names in any case', async () => {
    const s = new PassThrough();
    const sizes: { width: number; height: number }[] = [];
    onResize(s, (size) => sizes.push(size));
    s.write('{"Width":80,"Hei');
    s.write('ght":24}\n{"width":100,"height":30}\n');
    s.write('{not json}\n{"Width":1,"Height":2}\n');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sizes, [{ width: 80, height: 24 }, { width: 100, height: 30 }, { width: 1, height: 2 }]);
  });
});
