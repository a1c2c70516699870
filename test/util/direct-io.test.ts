import assert from 'node:assert/strict';
import { closeSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { alignedBuffer, alignUp, DIRECT_IO_ALIGN, endDirect, isDirect, openForDirectReading } from '../../src/util/direct-io.js';
import { tempDir } from '../helpers/daemon.js';

describe('util/direct-io', () => {
  for (const size of [0, 1, 4095, 4096, 65536, (1 << 20) + 1]) {
    it(`alignedBuffer(${size}) starts at a multiple of ${DIRECT_IO_ALIGN} and is ${size} bytes long`, () => {
      const b = alignedBuffer(size);
      assert.equal(b.length, size);
      assert.equal(koffi.address(b) % BigInt(DIRECT_IO_ALIGN), 0n);
    });
  }

  for (const [n, want] of [
    [0, 0],
    [1, 4096],
    [4096, 4096],
    [4097, 8192],
    [1 << 20, 1 << 20],
  ] as const) {
    it(`alignUp(${n}) is ${want}`, () => assert.equal(alignUp(n), want));
  }

  it('opens a file for direct reading, reads it into an aligned buffer to its end, and turns direct I/O off on the fd', async () => {
    const file = join(await tempDir(), 'blob');
    const data = Buffer.alloc(10_000, 3);
    writeFileSync(file, data);
    const fd = openForDirectReading(file);
    try {
      // The temp dirs are on a file system with direct I/O (ext4 here, tmpfs since Linux 6.6).
      assert.equal(isDirect(fd), true);
      const buf = alignedBuffer(alignUp(data.length));
      // A direct read past the end returns what there is.
      assert.equal(readSync(fd, buf, 0, buf.length, 0), data.length);
      assert.ok(buf.subarray(0, data.length).equals(data));
      // Unaligned memory is refused while direct I/O is on, and read once it is off.
      const odd = Buffer.alloc(100);
      assert.throws(() => readSync(fd, odd, 1, 10, 1), { code: 'EINVAL' });
      endDirect(fd);
      assert.equal(isDirect(fd), false);
      assert.equal(readSync(fd, odd, 1, 10, 1), 10);
    } finally {
      closeSync(fd);
    }
  });
});
