import assert from 'node:assert/strict';
import { readTar, TarFormatError, type TarHeader } from '../../src/image/tar-reader.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';

const tarOf = async (entries: LayerEntry[]): Promise<Buffer> => (await buildLayer(entries, { compression: 'none' })).tar;

/** `tar` with the first header's field at `offset` set to `raw` (its length, as written), and its checksum made again. */
function withField(tar: Buffer, offset: number, raw: Buffer): Buffer {
  const out = Buffer.from(tar);
  raw.copy(out, offset);
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += out[i]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return out;
}

/** The entries of `tar` fed in chunks of `chunk` bytes: headers and the bodies' bytes. */
async function read(tar: Buffer, chunk = 4096): Promise<{ header: TarHeader; data: string }[]> {
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let off = 0; off < tar.length; off += chunk) yield tar.subarray(off, off + chunk);
  }
  const out: { header: TarHeader; data: string }[] = [];
  for await (const { header, body } of readTar(chunks())) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part);
    out.push({ header, data: Buffer.concat(parts).toString() });
  }
  return out;
}

describe('image/tar-reader', () => {
  // The mode field (8 bytes at 100), written as tar writers do and as they should not.
  const MODE = 100;
  const fields: [string, Buffer, number | RegExp][] = [
    ['octal, NUL-terminated', Buffer.from('0000644\0'), 0o644],
    ['octal, space-padded after', Buffer.from('644     '), 0o644],
    ['octal, spaces and NULs before', Buffer.from(' \0  644\0'), 0o644],
    ['octal, space then NUL after (old tar)', Buffer.from('000644 \0'), 0o644],
    ['all NULs: zero', Buffer.alloc(8), 0],
    ['all spaces: zero', Buffer.from('        '), 0],
    ['GNU base-256', Buffer.from([0x80, 0, 0, 0, 0, 0, 0x01, 0xa4]), 0o644],
    ['a space inside the digits', Buffer.from('0006 44\0'), /bad octal field "0006 44"/],
    ['a digit that is not octal', Buffer.from('0000648\0'), /bad octal field "0000648"/],
    ['a NUL inside the digits', Buffer.from('06\x0044\0\0\0'), /bad octal field/],
    ['negative base-256', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /negative base-256 number/],
  ];
  for (const [what, raw, want] of fields) {
    it(`reads a numeric field: ${what}`, async () => {
      const tar = withField(await tarOf([{ type: 'file', path: 'a', content: 'x', mode: 0o755 }]), MODE, raw);
      if (want instanceof RegExp) await assert.rejects(read(tar), (err: Error) => err instanceof TarFormatError && want.test(err.message));
      else assert.equal((await read(tar))[0]!.header.mode, want);
    });
  }

  it('refuses a header whose checksum does not match', async () => {
    const tar = Buffer.from(await tarOf([{ type: 'file', path: 'a', content: 'x' }]));
    tar[0] = 'b'.charCodeAt(0);
    await assert.rejects(read(tar), /header checksum mismatch/);
  });

  for (const chunk of [1, 511, 4096]) {
    it(`entries with and without data, fed ${chunk} bytes at a time: each body is its own bytes`, async () => {
      const tar = await tarOf([
        { type: 'dir', path: 'bin' },
        { type: 'file', path: 'bin/busybox', content: 'B'.repeat(700) },
        ...['sh', 'ls', 'cat'].map((n): LayerEntry => ({ type: 'hardlink', path: `bin/${n}`, target: 'bin/busybox' })),
        { type: 'file', path: 'empty', content: '' },
        { type: 'symlink', path: 'link', target: 'bin/busybox' },
        { type: 'file', path: 'last', content: 'end' },
      ]);
      const got = await read(tar, chunk);
      assert.deepEqual(
        got.map((e) => [e.header.name, e.header.type, e.header.size, e.data]),
        [
          ['bin/', 'dir', 0, ''],
          ['bin/busybox', 'file', 700, 'B'.repeat(700)],
          ['bin/sh', 'hardlink', 0, ''],
          ['bin/ls', 'hardlink', 0, ''],
          ['bin/cat', 'hardlink', 0, ''],
          ['empty', 'file', 0, ''],
          ['link', 'symlink', 0, ''],
          ['last', 'file', 3, 'end'],
        ],
      );
    });
  }

  it("the ustar prefix joins the name only under the magic's exact bytes, as Go's archive/tar reads it", async () => {
    const tar = withField(await tarOf([{ type: 'file', path: 'a', content: 'x' }]), 345, Buffer.from('pre\0'));
    assert.equal((await read(tar))[0]!.header.name, 'pre/a');
    // The same letters with their top bit set, which an ASCII decode would read as "ustar".
    const highBits = withField(tar, 257, Buffer.from([0xf5, 0xf3, 0xf4, 0xe1, 0xf2]));
    assert.equal((await read(highBits))[0]!.header.name, 'a');
  });

  it('a body left unread is skipped, and the next entry read whole', async () => {
    const tar = await tarOf([
      { type: 'file', path: 'skipped', content: 'S'.repeat(1500) },
      { type: 'file', path: 'next', content: 'N' },
    ]);
    const names: [string, string][] = [];
    async function* whole(): AsyncGenerator<Buffer> {
      yield tar;
    }
    for await (const { header, body } of readTar(whole())) {
      if (header.name === 'next') for await (const part of body) names.push([header.name, part.toString()]);
      else names.push([header.name, '']);
    }
    assert.deepEqual(names, [['skipped', ''], ['next', 'N']]);
  });

  // 'small': header 0-512, 10 bytes at 512 (padding to 1024); 'big': header 1024-1536, 3000 bytes at 1536-4536; 'after': header at 5120.
  const bodies: { chunk: number; whole: string[] }[] = [
    { chunk: 4096, whole: ['small', 'after'] },
    { chunk: 8192, whole: ['small', 'big', 'after'] },
    { chunk: 1, whole: [] },
  ];
  for (const { chunk, whole } of bodies) {
    it(`a body at hand as its header is read comes whole as data too (chunks of ${chunk}: ${whole.join(', ') || 'none'}), the bytes body yields`, async () => {
      const content = { small: 's'.repeat(10), big: 'B'.repeat(3000), after: 'a' };
      const tar = await tarOf(Object.entries(content).map(([path, c]) => ({ type: 'file', path, content: c })));
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let off = 0; off < tar.length; off += chunk) yield tar.subarray(off, off + chunk);
      }
      const got: string[] = [];
      for await (const { header, body, data } of readTar(chunks())) {
        const parts: Buffer[] = [];
        for await (const part of body) parts.push(part);
        assert.equal(Buffer.concat(parts).toString(), content[header.name as keyof typeof content]);
        if (data) {
          assert.equal(data.toString(), content[header.name as keyof typeof content]);
          got.push(header.name);
        }
      }
      assert.deepEqual(got, whole);
    });
  }

  it('a body read in part is skipped to its end', async () => {
    const tar = await tarOf([
      { type: 'file', path: 'big', content: 'B'.repeat(3000) },
      { type: 'file', path: 'next', content: 'N' },
    ]);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let off = 0; off < tar.length; off += 1000) yield tar.subarray(off, off + 1000);
    }
    const seen: [string, string][] = [];
    for await (const { header, body } of readTar(chunks())) {
      for await (const part of body) {
        seen.push([header.name, part.toString()]);
        break;
      }
    }
    assert.deepEqual(seen, [['big', 'B'.repeat(488)], ['next', 'N']]);
  });

  // A pax header (0-512), its records (512-1024), the file's header (1024-1536), its 11 bytes and padding (1536-2048).
  const cuts: [string, number, string][] = [
    ['inside the pax header', 300, 'unexpected end of archive'],
    ["right after the pax header, before its records", 512, 'unexpected end of archive'],
    ["inside the pax header's records", 700, 'unexpected end of archive'],
    ["inside the file's body", 1540, 'unexpected end of archive in an entry'],
    ["inside the body's padding", 1800, 'unexpected end of archive in an entry'],
  ];
  for (const [what, at, message] of cuts) {
    it(`an archive cut ${what} is refused: ${message}`, async () => {
      const tar = await tarOf([{ type: 'file', path: `d/${'n'.repeat(150)}`, content: 'hello world' }]);
      assert.equal(String.fromCharCode(tar[156]!), 'x', 'the long name is in a pax header');
      for (const chunk of [1, 4096]) await assert.rejects(read(tar.subarray(0, at), chunk), (err: Error) => err instanceof TarFormatError && err.message === message);
    });
  }

  it('ends at the zero block: what follows is read (for the hash) but not parsed', async () => {
    const tar = Buffer.concat([await tarOf([{ type: 'file', path: 'a', content: 'x' }]), Buffer.from('not a header'.padEnd(512, '!'))]);
    let read = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for (let off = 0; off < tar.length; off += 100) {
        read += Math.min(100, tar.length - off);
        yield tar.subarray(off, off + 100);
      }
    }
    const names: string[] = [];
    for await (const { header } of readTar(counted())) names.push(header.name);
    assert.deepEqual(names, ['a']);
    assert.equal(read, tar.length);
  });
});
