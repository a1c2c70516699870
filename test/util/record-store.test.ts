import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import winston from 'winston';
import { RecordStore, SCHEMA_VERSION_FIELD } from '../../src/util/record-store.js';
import { tempDir } from '../helpers/daemon.js';

interface Rec {
  id: string;
  state: string;
}

const ID = (n: number): string => String(n).repeat(64).slice(0, 64);
const quietLog = (): winston.Logger => winston.createLogger({ silent: true });

/** A store at version 2 over `<dir>/things`, as a daemon would open it. */
async function open(dir: string, version = 2): Promise<RecordStore<Rec>> {
  const store = new RecordStore<Rec>(join(dir, 'things'), 'thing.json', 'thing', quietLog(), version);
  await store.init();
  return store;
}

describe('util/record-store: versioned records, and what cannot be loaded is kept', () => {
  it('a record saved is written with its schema version and read back without it', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    await store.save({ id: ID(1), state: 'RUNNING' });
    const onDisk = JSON.parse(await readFile(join(dir, 'things', ID(1), 'thing.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(onDisk[SCHEMA_VERSION_FIELD], 2);
    assert.deepEqual((await open(dir)).get(ID(1)), { id: ID(1), state: 'RUNNING' });
  });

  // What is found in a record's dir at load, and what becomes of it.
  const cases: { name: string; file: string | undefined; loaded: boolean; kept: 'in place' | 'set aside' | 'removed' }[] = [
    { name: 'a record of this version', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 2, id: ID(2), state: 'EXITED' }), loaded: true, kept: 'in place' },
    { name: 'a record of an older version', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 1, id: ID(2), state: 'EXITED' }), loaded: true, kept: 'in place' },
    { name: 'a record from before versions', file: JSON.stringify({ id: ID(2), state: 'EXITED' }), loaded: true, kept: 'in place' },
    { name: 'a record a newer Coracle wrote', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 3, id: ID(2), state: 'EXITED' }), loaded: false, kept: 'set aside' },
    { name: 'a torn record (power loss)', file: '{"id":"' + ID(2).slice(0, 20), loaded: false, kept: 'set aside' },
    { name: 'an empty record', file: '', loaded: false, kept: 'set aside' },
    { name: 'a record that is not an object', file: '[1,2]', loaded: false, kept: 'set aside' },
    { name: 'a record with a bad version', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 'x', id: ID(2) }), loaded: false, kept: 'set aside' },
    { name: 'a record without an id', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 2, state: 'EXITED' }), loaded: false, kept: 'set aside' },
    { name: 'a record whose id is not its dir\'s', file: JSON.stringify({ [SCHEMA_VERSION_FIELD]: 2, id: ID(3), state: 'EXITED' }), loaded: false, kept: 'set aside' },
    { name: 'a record path that is a directory', file: 'DIR', loaded: false, kept: 'set aside' },
    { name: 'a dir without a record (killed before its first write)', file: undefined, loaded: false, kept: 'removed' },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.loaded ? 'loaded' : 'not loaded'}, ${c.kept}`, async () => {
      const dir = await tempDir();
      const recordDir = join(dir, 'things', ID(2));
      // A writable layer's file beside the record: it must never be lost with a bad record.
      await mkdir(join(recordDir, 'upper'), { recursive: true });
      await writeFile(join(recordDir, 'upper', 'data'), 'precious');
      if (c.file === 'DIR') await mkdir(join(recordDir, 'thing.json'));
      else if (c.file !== undefined) await writeFile(join(recordDir, 'thing.json'), c.file);
      const store = await open(dir);
      assert.equal(store.get(ID(2)) !== undefined, c.loaded);
      assert.equal(store.setAsideIds.has(ID(2)), c.kept === 'set aside', 'recovery is told what was set aside');
      const inPlace = (await readdir(join(dir, 'things'))).includes(ID(2));
      const aside = await readdir(join(dir, 'quarantine', 'thing')).catch(() => [] as string[]);
      if (c.kept === 'in place') assert.ok(inPlace && aside.length === 0);
      if (c.kept === 'removed') assert.ok(!inPlace && aside.length === 0);
      if (c.kept === 'set aside') {
        assert.ok(!inPlace, 'no longer in the store');
        assert.equal(aside.length, 1);
        assert.match(aside[0]!, new RegExp(`^${ID(2)}-\\d+$`));
        assert.equal(await readFile(join(dir, 'quarantine', 'thing', aside[0]!, 'upper', 'data'), 'utf8'), 'precious');
        if (c.file !== 'DIR') assert.equal(await readFile(join(dir, 'quarantine', 'thing', aside[0]!, 'thing.json'), 'utf8'), c.file);
      }
    });
  }
});
