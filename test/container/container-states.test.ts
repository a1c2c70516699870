import assert from 'node:assert/strict';
import {
  answersCreateRetry,
  canRestart,
  canStart,
  canUpdateResources,
  inCreation,
  isListed,
  isRunning,
  mayHaveExited,
  needsStop,
  unstarted,
} from '../../src/container/container-states.js';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { containerRecord } from '../helpers/container-record.js';

type State = ContainerRecord['state'];
const STATES: State[] = ['CREATING', 'CREATED', 'RUNNING', 'EXITED'];

/*
 * Each rule over plain records, one row per predicate: the states it holds for. Every state
 * is checked against every row, so a new state (or a changed rule) fails here by name.
 */
describe('container/container-states: the rules a container state decides', () => {
  const rows: { name: string; of: (c: Pick<ContainerRecord, 'state'>) => boolean; holds: State[] }[] = [
    { name: 'inCreation: a create in flight, or left half made', of: inCreation, holds: ['CREATING'] },
    { name: 'isListed: everything but a create in flight', of: isListed, holds: ['CREATED', 'RUNNING', 'EXITED'] },
    { name: 'answersCreateRetry: only while not started', of: answersCreateRetry, holds: ['CREATED'] },
    { name: 'canStart: only a created container', of: canStart, holds: ['CREATED'] },
    { name: 'canRestart: only an exited container', of: canRestart, holds: ['EXITED'] },
    { name: 'isRunning: a process to exec in, attach to, signal', of: isRunning, holds: ['RUNNING'] },
    { name: 'mayHaveExited: only a running record has an exit to read', of: mayHaveExited, holds: ['RUNNING'] },
    { name: 'needsStop: created or running is stopped before removal', of: needsStop, holds: ['CREATED', 'RUNNING'] },
    { name: 'canUpdateResources: created (the bundle) or running (the runtime)', of: canUpdateResources, holds: ['CREATED', 'RUNNING'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      for (const state of STATES) assert.equal(row.of({ state }), row.holds.includes(state), `${row.name}: ${state}`);
    });
  }

  it('isListed is exactly not inCreation', () => {
    for (const state of STATES) assert.equal(isListed({ state }), !inCreation({ state }), state);
  });

  it('unstarted: created with no init pid recorded, in no other state', () => {
    const cases: { state: State; pid?: number; want: boolean }[] = [
      { state: 'CREATED', want: true },
      { state: 'CREATED', pid: 4242, want: false },
      { state: 'CREATING', want: false },
      { state: 'RUNNING', want: false },
      { state: 'RUNNING', pid: 4242, want: false },
      { state: 'EXITED', want: false },
      { state: 'EXITED', pid: 4242, want: false },
    ];
    for (const c of cases) {
      const record = c.pid === undefined ? { state: c.state } : { state: c.state, pid: c.pid };
      assert.equal(unstarted(record), c.want, JSON.stringify(c));
    }
  });

  it('reads the state alone: the rest of a full record changes nothing', () => {
    const full = containerRecord({ exitCode: 0 });
    for (const state of STATES) {
      const c = { ...full, state };
      for (const row of rows) assert.equal(row.of(c), row.of({ state }), `${row.name}: ${state}`);
    }
  });
});
