import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeFileAtomic, writeFileDurable } from '../../src/util/atomic-write.js';
import { tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);
const MODULE = fileURLToPath(new URL('../../src/util/atomic-write.js', import.meta.url));

/**
 * The fsyncs (fsync, fdatasync) a node process makes while it writes `file` three times
 * with `fn` (or does nothing), as strace sees them: the real syscalls, not a spy.
 */
async function fsyncsOf(fn: 'writeFileAtomic' | 'writeFileDurable' | 'none', file: string): Promise<number> {
  const dir = await tempDir();
  const trace = join(dir, 'trace');
  const body = fn === 'none' ? '' : `for (let i = 0; i < 3; i++) await m.${fn}(${JSON.stringify(file)}, 'round ' + i);`;
  const script = `const m = await import(${JSON.stringify(MODULE)}); ${body}`;
  await run('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, '--input-type=module', '-e', script]);
  return (await readFile(trace, 'utf8')).split('\n').filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
}

describe('util/atomic-write', () => {
  it('writeFileAtomic replaces the file with no fsync; writeFileDurable fsyncs the file and its dir each time', async () => {
    const dir = await tempDir();
    const file = join(dir, 'record.json');
    const baseline = await fsyncsOf('none', file);
    assert.equal(await fsyncsOf('writeFileAtomic', file), baseline, 'writeFileAtomic: no fsync');
    assert.equal(await readFile(file, 'utf8'), 'round 2');
    assert.equal(await fsyncsOf('writeFileDurable', file), baseline + 6, 'writeFileDurable: 3 writes x (file + dir)');
    assert.equal(await readFile(file, 'utf8'), 'round 2');
    assert.deepEqual(await readdir(dir), ['record.json'], 'no temp file left');
  });

  it('leaves the old file and no temp file when the rename fails', async () => {
    const dir = await tempDir();
    // A directory where the file should go: the rename over it fails (EISDIR).
    const target = join(dir, 'target');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'old');
    for (const write of [writeFileAtomic, writeFileDurable]) {
      await assert.rejects(write(target, 'new'), { code: 'EISDIR' });
      assert.deepEqual(await readdir(dir), ['target'], `${write.name}: no temp file left`);
      assert.equal(await readFile(join(target, 'keep'), 'utf8'), 'old');
    }
  });
});
