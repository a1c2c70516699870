import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unpackLayer } from '../../src/image/unpack.js';
import { lgetxattr } from '../../src/util/fs-syscalls.js';
import { setOpenat2 } from '../../src/util/in-root.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';
import { diff, linksOut, makeDecoy, snapshot } from '../helpers/sentinel.js';

interface Unpacked {
  decoy: string;
  layers: string[];
  /** Each layer's error message, if it failed. */
  errors: (string | undefined)[];
}

/**
 * Unpacks the layers `make(decoy)` gives, in order, each over the ones before (as a pull
 * does), next to a decoy tree; then checks the invariant every hostile layer must keep: the
 * decoy (what their symlinks point at) is exactly as it was, and nothing unpacked is a
 * hardlink to anything outside its layer.
 */
async function unpackNextToDecoy(make: (decoy: string) => LayerEntry[][]): Promise<Unpacked> {
  const work = await tempDir();
  const decoy = join(work, 'decoy');
  await mkdir(decoy);
  makeDecoy(decoy);
  const before = snapshot(decoy);
  const dirs: string[] = [];
  const errors: (string | undefined)[] = [];
  for (const [i, entries] of make(decoy).entries()) {
    const blob = join(work, `blob${i}`);
    await writeFile(blob, (await buildLayer(entries, { compression: 'none' })).blob);
    const target = join(work, `fs${i}`);
    await mkdir(target);
    try {
      await unpackLayer({ blob, target, parents: [...dirs].reverse(), lowerComplete: true });
      errors.push(undefined);
    } catch (err) {
      errors.push((err as Error).message);
    }
    dirs.push(target);
  }
  assert.deepEqual(diff(before, snapshot(decoy)), [], 'the decoy outside the layers is untouched');
  for (const d of dirs) assert.deepEqual(linksOut(d), [], `no hardlink out of ${d}`);
  return { decoy, layers: dirs, errors };
}

const file = (path: string, content = 'x', mode = 0o644): LayerEntry => ({ type: 'file', path, content, mode });
const dir = (path: string, mode = 0o755): LayerEntry => ({ type: 'dir', path, mode });
const sym = (path: string, target: string): LayerEntry => ({ type: 'symlink', path, target });
const hard = (path: string, target: string): LayerEntry => ({ type: 'hardlink', path, target });

/** The chain of symlinked directories `s1/s2/…/sN` → `d1/d2/…/dN`, some absolute, some relative. */
function chain(depth: number): LayerEntry[] {
  const out: LayerEntry[] = [];
  const real = Array.from({ length: depth }, (_, i) => `d${i + 1}`);
  for (let i = 1; i <= depth; i++) out.push(dir(real.slice(0, i).join('/')));
  out.push(file(`${real.join('/')}/f`, 'lower file\n', 0o4755));
  // s1 -> d1 at the top; then inside each real dir a link to the next, absolute on odd levels.
  out.push(sym('s1', 'd1'));
  for (let i = 2; i <= depth; i++) {
    const parent = real.slice(0, i - 1).join('/');
    out.push(sym(`${parent}/s${i}`, i % 2 ? `/${real.slice(0, i).join('/')}` : `d${i}`));
  }
  return out;
}

const viaLinks = (depth: number): string => Array.from({ length: depth }, (_, i) => `s${i + 1}`).join('/');

for (const walk of [false, true]) {
  describe(`image/unpack: hostile layers${walk ? ' (component walk, as without openat2)' : ''}`, function () {
    this.timeout(60_000);
    before(() => setOpenat2(!walk));
    after(() => setOpenat2(true));

    it("the issue's recipe: a hardlink copy-up to a path an upper symlink points out of the layer", async () => {
      const cron = '/etc/cron.d/x';
      assert.ok(!existsSync(cron), `${cron} must not exist before the test`);
      onCleanup(`remove ${cron} if a regression made it`, async () => rmSync(cron, { force: true }));
      const recipe = (target: string): LayerEntry[][] => [
        [dir('a'), file('a/f', '#!/bin/sh\necho pwned\n', 0o4755), sym('b', 'a')],
        [dir('a'), sym('a/f', target), hard('c', 'b/f')],
      ];
      // Exactly as reported (the host's /etc/cron.d/x), then aimed at the decoy.
      for (const u of [await unpackNextToDecoy(() => recipe(cron)), await unpackNextToDecoy((decoy) => recipe(join(decoy, 'etc/cron.d/x')))]) {
        assert.ok(!existsSync(cron), `${cron} was not written`);
        assert.deepEqual(u.errors, [undefined, undefined]);
        // The upper `a/f` (a symlink) hides the lower file: `c` links to it, in the layer.
        const [c, f] = [lstatSync(join(u.layers[1]!, 'c')), lstatSync(join(u.layers[1]!, 'a/f'))];
        assert.ok(c.isSymbolicLink() && c.ino === f.ino);
      }
    });

    for (const depth of [1, 2, 3, 5]) {
      it(`copies up through symlinked lower directories ${depth} deep, into the layer only`, async () => {
        const deep = Array.from({ length: depth }, (_, i) => `d${i + 1}`).join('/');
        const u = await unpackNextToDecoy((decoy) => [
          chain(depth),
          // The upper layer turns the deepest real dir into a symlink out, absolute and relative.
          [...Array.from({ length: depth - 1 }, (_, i) => dir(Array.from({ length: i + 1 }, (__, j) => `d${j + 1}`).join('/'))), sym(deep, depth % 2 ? decoy : `${'../'.repeat(depth + 3)}${decoy.slice(1)}`), hard('h', `${viaLinks(depth)}/f`)],
        ]);
        assert.deepEqual(u.errors, [undefined, undefined]);
        const h = lstatSync(join(u.layers[1]!, 'h'));
        assert.ok(h.isFile() && h.nlink === 2, 'the copy and its link');
        assert.equal(h.mode & 0o7777, 0o4755);
        assert.equal(readFileSync(join(u.layers[1]!, 'h'), 'utf8'), 'lower file\n');
        // The copy went where the symlink leads when resolved inside the layer.
        assert.equal(lstatSync(join(u.layers[1]!, decoyPathInside(u.decoy), 'f')).ino, h.ino);
      });
    }

    for (const depth of [1, 3, 6]) {
      it(`links to an upper symlink that hides a lower file ${depth} deep through symlinked dirs, never copying through it`, async () => {
        const real = Array.from({ length: depth }, (_, i) => `d${i + 1}`);
        const u = await unpackNextToDecoy((decoy) => [
          chain(depth),
          [...real.map((_, i) => dir(real.slice(0, i + 1).join('/'))), sym(`${real.join('/')}/f`, join(decoy, 'file')), hard('h', `${viaLinks(depth)}/f`)],
        ]);
        assert.deepEqual(u.errors, [undefined, undefined]);
        assert.equal(readlinkSync(join(u.layers[1]!, 'h')), join(u.decoy, 'file'));
      });
    }

    it('puts whiteouts and opaque markers under symlinked directories inside the layer', async () => {
      const u = await unpackNextToDecoy((decoy) => [
        [sym('abs', decoy), sym('rel', `../../../../../..${decoy}`), sym('up', '..'), { type: 'whiteout', path: 'abs/keep' }, { type: 'whiteout', path: 'rel/file' }, { type: 'opaque', path: 'abs/sub' }, { type: 'opaque', path: 'up' }, { type: 'whiteout', path: 'up/up/x' }],
      ]);
      assert.deepEqual(u.errors, [undefined]);
      const inside = join(u.layers[0]!, decoyPathInside(u.decoy));
      assert.ok(lstatSync(join(inside, 'keep')).isCharacterDevice());
      assert.ok(lstatSync(join(inside, 'file')).isCharacterDevice());
      assert.equal(lgetxattr(join(inside, 'sub'), 'trusted.overlay.opaque').toString(), 'y');
      assert.equal(lgetxattr(u.layers[0]!, 'trusted.overlay.opaque').toString(), 'y', '`up` is the layer root');
      assert.ok(lstatSync(join(u.layers[0]!, 'x')).isCharacterDevice());
    });

    it('links to a symlink itself, never to what it points at', async () => {
      const u = await unpackNextToDecoy((decoy) => [
        [sym('s', join(decoy, 'file')), hard('h', 's'), sym('t', '/etc/passwd'), hard('h2', 't'), file('h3', 'mine'), hard('h4', 'h3')],
        [hard('lower-sym', 's')],
      ]);
      assert.equal(u.errors[0], undefined);
      const [s, h] = [lstatSync(join(u.layers[0]!, 's')), lstatSync(join(u.layers[0]!, 'h'))];
      assert.ok(h.isSymbolicLink() && h.ino === s.ino);
      assert.equal(lstatSync(join(u.layers[0]!, 'h2')).ino, lstatSync(join(u.layers[0]!, 't')).ino);
      // A lower symlink is copied up as itself (its target as text, never followed), then linked.
      assert.equal(u.errors[1], undefined);
      const [up, linked] = [lstatSync(join(u.layers[1]!, 's')), lstatSync(join(u.layers[1]!, 'lower-sym'))];
      assert.ok(up.isSymbolicLink() && linked.ino === up.ino);
      assert.equal(readlinkSync(join(u.layers[1]!, 's')), join(u.decoy, 'file'));
    });

    it('a hardlink into a directory that an earlier entry turned into a symlink out resolves anew, inside the layer', async () => {
      // d is cached as a directory while d/f is written; then d becomes a symlink to the
      // decoy, which holds a "file" of its own: the link must not reach it.
      const u = await unpackNextToDecoy((decoy) => [[dir('d'), file('d/file', 'mine'), hard('ok', 'd/file'), sym('d', decoy), hard('h', 'd/file')]]);
      assert.match(u.errors[0] ?? '', /entry "h": hardlink target "d\/file" not found/);
      assert.equal(readFileSync(join(u.layers[0]!, 'ok'), 'utf8'), 'mine');
    });

    it('finds a hardlink target in lower layers nearest first, stopping at whiteouts and opaque dirs; copies FIFOs', async () => {
      const u = await unpackNextToDecoy((decoy) => [
        [dir('a'), file('a/f', 'hidden'), dir('o'), file('o/g', 'hidden'), dir('w'), file('w/x', 'hidden'), { type: 'fifo', path: 'fifo' }, file('plain', 'seen'), { type: 'symlink', path: 'tagged', target: decoy, xattrs: { 'user.tag': 'v' } }],
        [{ type: 'whiteout', path: 'a/f' }, { type: 'opaque', path: 'o' }, { type: 'whiteout', path: 'w' }],
        [hard('h1', 'a/f')],
        [hard('h2', 'o/g')],
        [hard('h3', 'w/x')],
        [hard('h4', 'fifo'), hard('h5', 'plain')],
        [{ type: 'whiteout', path: 'plain' }, hard('h6', 'plain')],
      ]);
      // A user.* xattr on a symlink is refused by the kernel (EPERM): a warning, not a failure.
      assert.equal(u.errors[0], undefined);
      assert.equal(u.errors[1], undefined);
      assert.match(u.errors[2]!, /hardlink target "a\/f" not found/);
      assert.match(u.errors[3]!, /hardlink target "o\/g" not found/);
      assert.match(u.errors[4]!, /hardlink target "w\/x" not found/);
      assert.equal(u.errors[5], undefined);
      const [fifo, h4] = [lstatSync(join(u.layers[5]!, 'fifo')), lstatSync(join(u.layers[5]!, 'h4'))];
      assert.ok(fifo.isFIFO() && h4.ino === fifo.ino);
      assert.equal(readFileSync(join(u.layers[5]!, 'h5'), 'utf8'), 'seen');
      assert.match(u.errors[6]!, /hardlink target "plain" not found/);
    });

    it('turns a directory into a symlink and back without following it, nor dating what it pointed at', async () => {
      const u = await unpackNextToDecoy((decoy) => [
        [dir('d', 0o700), file('d/x'), sym('d', decoy), dir('d', 0o750), file('d/y'), dir('e'), file('e/z'), sym('e', decoy), dir('f'), sym('f', join(decoy, 'sub')), file('f/new'), dir('g'), sym('g', '../../..'), file('g/top')],
      ]);
      assert.deepEqual(u.errors, [undefined]);
      const root = u.layers[0]!;
      assert.deepEqual(readdirSync(join(root, 'd')), ['y']);
      assert.equal(lstatSync(join(root, 'd')).mode & 0o7777, 0o750);
      assert.equal(readlinkSync(join(root, 'e')), u.decoy);
      // `f/new` goes through the symlink as the layer sees it: to <decoy>/sub inside the layer.
      assert.ok(lstatSync(join(root, decoyPathInside(u.decoy), 'sub/new')).isFile());
      assert.ok(lstatSync(join(root, 'top')).isFile(), '`..` stops at the layer root');
    });

    it('makes device nodes, absolute and `..` names inside the layer, and refuses a name that climbs out', async () => {
      const u = await unpackNextToDecoy((decoy) => [
        [{ type: 'char', path: 'dev/null', major: 1, minor: 3 }, sym('devs', decoy), { type: 'block', path: 'devs/loop9', major: 7, minor: 9 }, { type: 'fifo', path: 'devs/fifo' }, file(`${decoy}/abs`), file('a/b/../../c'), file('./x/./y')],
        [file('a/../../escape')],
        [hard('h', '../../../etc/passwd')],
        [sym('s', decoy), hard('h', 's/file')],
      ]);
      assert.equal(u.errors[0], undefined);
      const root = u.layers[0]!;
      assert.ok(lstatSync(join(root, 'dev/null')).isCharacterDevice());
      const inside = join(root, decoyPathInside(u.decoy));
      assert.ok(lstatSync(join(inside, 'loop9')).isBlockDevice());
      assert.ok(lstatSync(join(inside, 'fifo')).isFIFO());
      assert.ok(lstatSync(join(inside, 'abs')).isFile());
      assert.ok(lstatSync(join(root, 'c')).isFile() && lstatSync(join(root, 'x/y')).isFile());
      assert.match(u.errors[1]!, /escapes the layer/);
      assert.match(u.errors[2]!, /escapes the layer/);
      // A hardlink through a symlink out: resolved inside, where there is no such file.
      assert.match(u.errors[3]!, /hardlink target "s\/file" not found/);
    });

    it('keeps the directories of an entry open while copy-ups fill the directory cache', async () => {
      // 100 copy-ups, each into a directory not seen before: the cache of directory fds
      // turns over in the middle of entries, which must still link in the right place.
      const n = 100;
      const u = await unpackNextToDecoy(() => [
        Array.from({ length: n }, (_, i) => file(`lower${i}/f`, `file ${i}\n`)),
        // (One directory first, so that the turnover falls between an entry's two directories.)
        [file('x/y'), ...Array.from({ length: n }, (_, i) => hard(`upper${i}/h`, `lower${i}/f`))],
      ]);
      assert.deepEqual(u.errors, [undefined, undefined]);
      for (let i = 0; i < n; i++) {
        const [h, f] = [lstatSync(join(u.layers[1]!, `upper${i}/h`)), lstatSync(join(u.layers[1]!, `lower${i}/f`))];
        assert.equal(h.ino, f.ino, `upper${i}/h`);
        assert.equal(readFileSync(join(u.layers[1]!, `upper${i}/h`), 'utf8'), `file ${i}\n`);
      }
    });

    it('refuses trusted.overlay.* xattrs, which would steer overlayfs', async () => {
      const u = await unpackNextToDecoy(() => [
        [{ type: 'file', path: 'f', content: 'x', xattrs: { 'trusted.overlay.redirect': '/etc' } }],
        [{ type: 'file', path: 'g', content: 'x', xattrs: { 'trusted.overlay.metacopy': '' } }],
        [{ type: 'file', path: 'h', content: 'x', xattrs: { 'user.fine': 'yes', 'trusted.other': 'ok' } }],
      ]);
      assert.match(u.errors[0]!, /entry "f": xattr trusted\.overlay\.redirect is refused/);
      assert.match(u.errors[1]!, /xattr trusted\.overlay\.metacopy is refused/);
      assert.equal(u.errors[2], undefined);
    });
  });
}

/** Where an absolute symlink to `decoy` leads inside a layer: the same path, under the layer. */
function decoyPathInside(decoy: string): string {
  return decoy.slice(1);
}

/** One raw ustar header block (for what the image helpers do not write: GNU long names). */
function rawHeader(name: string, type: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'utf8');
  for (const [off, len, v] of [[100, 8, 0o644], [108, 8, 0], [116, 8, 0], [124, 12, size], [136, 12, 0]] as const) b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write(type, 156, 'ascii');
  b.write('ustar\0' + '00', 257, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return b;
}

const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

function paxRecords(records: [string, Buffer][]): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

describe('image/unpack: extended headers are capped at 1 MiB each', function () {
  this.timeout(60_000);

  async function unpackRaw(tar: Buffer): Promise<string> {
    const work = await tempDir();
    await writeFile(join(work, 'blob'), tar);
    await mkdir(join(work, 'fs'));
    try {
      await unpackLayer({ blob: join(work, 'blob'), target: join(work, 'fs'), parents: [], lowerComplete: true });
    } catch (err) {
      return (err as Error).message;
    }
    return 'unpacked';
  }

  const file = Buffer.concat([rawHeader('f', '0', 1), padded(Buffer.from('x'))]);
  const end = Buffer.alloc(1024);

  it('refuses a pax header over 1 MiB, naming the blob', async () => {
    const big = (await buildLayer([{ type: 'file', path: 'f', content: 'x', xattrs: { 'user.big': Buffer.alloc((1 << 20) + 1) } }], { compression: 'none' })).tar;
    assert.match(await unpackRaw(big), /^layer blob: pax header of \d+ bytes: more than the 1048576 allowed$/);
    const fits = (await buildLayer([{ type: 'file', path: 'f', content: 'x', xattrs: { 'user.big': Buffer.alloc(3000) } }], { compression: 'none' })).tar;
    assert.equal(await unpackRaw(fits), 'unpacked');
  });

  it('refuses a GNU long name or link name over 1 MiB', async () => {
    for (const [type, what] of [['L', 'GNU long name'], ['K', 'GNU long link name']]) {
      const long = Buffer.alloc((1 << 20) + 10, 0x61);
      const tar = Buffer.concat([rawHeader('././@LongLink', type!, long.length), padded(long), file, end]);
      assert.equal(await unpackRaw(tar), `layer blob: ${what} of ${long.length} bytes: more than the 1048576 allowed`);
    }
  });

  it('refuses global pax headers that add up past 1 MiB', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const records = paxRecords([[`coracle.k${i}`, Buffer.alloc(400_000, 0x62)]]);
      parts.push(rawHeader('pax_global_header', 'g', records.length), padded(records));
    }
    assert.match(await unpackRaw(Buffer.concat([...parts, file, end])), /^layer blob: global pax headers of \d+ bytes in all: more than the 1048576 allowed$/);
  });
});
