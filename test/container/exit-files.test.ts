import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exitFileNames, needsExitRead } from '../../src/container/exit-files.js';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { tempDir } from '../helpers/daemon.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('container/exit-files: which listed containers have an exit to read', () => {
  const table: { name: string; state: ContainerRecord['state']; id: string; names: string[] | undefined; read: boolean }[] = [
    { name: 'running, its exit file there', state: 'RUNNING', id: A, names: [A, B], read: true },
    { name: 'running, no exit file', state: 'RUNNING', id: A, names: [B], read: false },
    { name: 'running, exit dir empty', state: 'RUNNING', id: A, names: [], read: false },
    { name: 'running, exit dir unreadable: read as before', state: 'RUNNING', id: A, names: undefined, read: true },
    { name: 'exited: recorded already', state: 'EXITED', id: A, names: [A], read: false },
    { name: 'created: no process to have exited', state: 'CREATED', id: A, names: [A], read: false },
    { name: 'creating', state: 'CREATING', id: A, names: undefined, read: false },
    { name: 'a name that is a prefix of the id is not its file', state: 'RUNNING', id: A, names: [A.slice(0, 12)], read: false },
  ];
  for (const t of table) {
    it(t.name, () => {
      assert.equal(needsExitRead({ id: t.id, state: t.state }, t.names === undefined ? undefined : new Set(t.names)), t.read);
    });
  }

  it('exitFileNames: the names in the dir, or undefined when it cannot be read', async () => {
    const dir = join(await tempDir(), 'exits');
    assert.equal(await exitFileNames(dir), undefined);
    await mkdir(dir);
    assert.deepEqual(await exitFileNames(dir), new Set());
    await writeFile(join(dir, A), '137');
    await writeFile(join(dir, B), '');
    assert.deepEqual(await exitFileNames(dir), new Set([A, B]));
  });
});
