import assert from 'node:assert/strict';
import { ContainerEvents, type ContainerEvent } from '../../src/container/container-events.js';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { onCleanup } from '../helpers/cleanup.js';
import { containerRecord } from '../helpers/container-record.js';

/** A container record as the store keeps one, exited with `code`. */
function exitedRecord(id: string, sandboxId: string, code: number): ContainerRecord {
  return containerRecord({ id, sandboxId, state: 'EXITED', labels: { 'io.coracle.cli': 'true' }, startedAt: '2', finishedAt: '3', exitCode: code, reason: 'Error' });
}

describe('container: ContainerEvents', () => {
  it("a STOPPED carries the record as published: a subscriber that reads it later has the exit, though the record is gone or changed", async () => {
    const events = new ContainerEvents();
    onCleanup('close the events', () => events.close());
    const store = new Map<string, ContainerRecord>();
    const seen: ContainerEvent[] = [];
    // One that acts in the publish's tick (the daemon's run --rm watcher): it removes the record.
    events.subscribe(
      (e) => {
        if (e.type === 'STOPPED') store.delete(e.id);
      },
      () => undefined,
    );
    // One that is behind: it reads the event once the publish's tick is over.
    events.subscribe(
      (e) => void Promise.resolve().then(() => seen.push(e)),
      () => undefined,
    );
    const record = exitedRecord('c1', 'p1', 7);
    store.set(record.id, record);
    events.publish('c1', 'p1', 'STOPPED', 'coracle', record);
    events.publish('c1', 'p1', 'DELETED', 'coracle');
    // The publisher's record changed after (a restart): the event keeps the exit it told.
    record.state = 'RUNNING';
    record.exitCode = 0;
    await new Promise((r) => setImmediate(r));

    assert.equal(store.size, 0);
    assert.deepEqual(
      seen.map((e) => [e.type, e.container?.state, e.container?.exitCode]),
      [
        ['STOPPED', 'EXITED', 7],
        ['DELETED', undefined, undefined],
      ],
    );
  });
});
