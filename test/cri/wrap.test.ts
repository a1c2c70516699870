import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe('cri/wrap: a failed call in the log', function () {
  this.timeout(30_000);

  it('its code and words at its level, and at debug where it was raised (the daemon runs at debug here)', async () => {
    const d = await startTestDaemon();
    assert.equal((await codeOf(d.clients.runtime.ContainerStatus({ container_id: 'nope' }))).code, grpc.status.NOT_FOUND);
    const line = (message: string): Record<string, unknown> | undefined =>
      d.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === message && l.rpc === 'ContainerStatus');
    await until('the stack line', () => line('rpc failed: stack') !== undefined);
    const failed = line('rpc failed')!;
    assert.equal(failed.code, grpc.status.NOT_FOUND);
    assert.match(String(failed.error), /container nope: not found/);
    const stack = String(line('rpc failed: stack')!.stack);
    assert.match(stack, /^CoracleError: container nope: not found\n\s+at /);
    assert.equal(line('rpc failed: stack')!.req, failed.req, 'the same request id');
  });
});
