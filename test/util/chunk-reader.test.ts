import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkReader } from '../../src/util/chunk-reader.js';

class Truncated extends Error {}

/** A source over `chunks` that records how many chunks were pulled and how many times it was closed. */
function source(chunks: string[]): { it: AsyncIterator<Buffer>; state: { pulled: number; closed: number } } {
  const state = { pulled: 0, closed: 0 };
  const bufs = chunks.map((c) => Buffer.from(c));
  const it: AsyncIterator<Buffer> = {
    next: async () => (state.pulled < bufs.length ? { done: false, value: bufs[state.pulled++]! } : { done: true, value: undefined }),
    return: async () => {
      state.closed++;
      return { done: true, value: undefined };
    },
  };
  return { it, state };
}

const reader = (chunks: string[]): { r: ChunkReader; state: { pulled: number; closed: number } } => {
  const { it, state } = source(chunks);
  return { r: new ChunkReader(it, (where) => new Truncated(`cut short in ${where ?? '?'}`)), state };
};

async function collect(gen: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of gen) out.push(c.toString());
  return out;
}

describe('util/chunk-reader: exact byte counts out of a chunked source', () => {
  const reads: { name: string; chunks: string[]; n: number[]; want: (string | undefined)[] }[] = [
    { name: 'within one chunk', chunks: ['abcdef'], n: [2, 3, 1], want: ['ab', 'cde', 'f'] },
    { name: 'across chunks, empty ones skipped', chunks: ['ab', '', 'cd', 'e'], n: [3, 2], want: ['abc', 'de'] },
    { name: 'a clean end is undefined', chunks: ['ab'], n: [2, 1, 4], want: ['ab', undefined, undefined] },
    { name: 'nothing at all', chunks: [], n: [1], want: [undefined] },
    { name: 'zero bytes, even at the end', chunks: ['a'], n: [0, 1, 0], want: ['', 'a', ''] },
  ];
  for (const t of reads) {
    it(`read: ${t.name}`, async () => {
      const { r } = reader(t.chunks);
      const got = [];
      for (const n of t.n) got.push((await r.read(n))?.toString());
      assert.deepEqual(got, t.want);
    });
  }

  const cuts: { name: string; run: (r: ChunkReader) => Promise<unknown>; message: string }[] = [
    { name: 'read past the end of what is left', run: (r) => r.read(5, 'a header'), message: 'cut short in a header' },
    { name: 'exactly at a clean end', run: async (r) => (await r.read(3), r.exactly(1, 'a trailer')), message: 'cut short in a trailer' },
    { name: 'stream past the end', run: (r) => collect(r.stream(4, 'an entry')), message: 'cut short in an entry' },
    { name: 'skip past the end', run: (r) => r.skip(9), message: 'cut short in ?' },
    { name: 'skipPast with no such byte', run: (r) => r.skipPast(0x7a, 'a name'), message: 'cut short in a name' },
  ];
  for (const t of cuts) {
    it(`the format's error: ${t.name}`, async () => {
      const { r } = reader(['ab', 'c']);
      await assert.rejects(t.run(r), (err: unknown) => err instanceof Truncated && err.message === t.message);
    });
  }

  it('stream: the chunks as they came, none copied; what is past n stays', async () => {
    // Not from Node's shared pool (Buffer.from's): a copy would have a memory of its own.
    const first = Buffer.alloc(4, 'abcd');
    const second = Buffer.alloc(4, 'efgh');
    const it = [first, second][Symbol.iterator]();
    const r = new ChunkReader({ next: async () => it.next() as IteratorResult<Buffer> }, () => new Truncated());
    const parts: Buffer[] = [];
    for await (const c of r.stream(6)) parts.push(c);
    assert.equal(parts[0], first);
    assert.equal(parts[1]!.buffer, second.buffer);
    assert.equal(parts[1]!.byteOffset, second.byteOffset);
    assert.deepEqual(parts.map(String), ['abcd', 'ef']);
    assert.equal((await r.read(2))?.toString(), 'gh');
  });

  it('chunk and unread: what is given back comes first, in order, before the source', async () => {
    const { r } = reader(['abc', 'def']);
    const c = (await r.chunk())!;
    assert.equal(c.toString(), 'abc');
    r.unread(c.subarray(1));
    r.unread(Buffer.from('X'));
    r.unread(Buffer.alloc(0));
    assert.equal((await r.read(4))?.toString(), 'Xbcd');
    assert.deepEqual([(await r.chunk())?.toString(), await r.chunk()], ['ef', undefined]);
  });

  it('rest: what was given back, then the source to its end', async () => {
    const { r, state } = reader(['abc', 'de']);
    await r.read(2);
    assert.deepEqual(await collect(r.rest()), ['c', 'de']);
    assert.equal(state.pulled, 2);
  });

  it('skipPast: up to and including the byte, in whichever chunk it is', async () => {
    const { r } = reader(['name-with', 'out-end\0rest', '!']);
    await r.skipPast(0);
    assert.equal((await r.read(5))?.toString(), 'rest!');
  });

  it('close lets go of the source once; drain reads it to its end', async () => {
    const a = reader(['ab', 'cd']);
    await a.r.read(1);
    await a.r.close();
    await a.r.close();
    assert.deepEqual(a.state, { pulled: 1, closed: 1 });
    const b = reader(['ab', 'cd', 'ef']);
    await b.r.read(1);
    await b.r.drain();
    assert.deepEqual(b.state, { pulled: 3, closed: 0 });
    assert.equal(await b.r.read(1), undefined);
  });

  it('takeBuffered and skipBuffered act on what is at hand, without pulling from the source; position counts what was handed out', async () => {
    const { r, state } = reader(['abcd', 'ef']);
    assert.equal(r.takeBuffered(1), undefined, 'nothing at hand before the first read');
    assert.equal((await r.read(1))?.toString(), 'a');
    assert.equal(r.takeBuffered(4), undefined, 'more than the chunk at hand: nothing taken');
    assert.equal(r.takeBuffered(2)?.toString(), 'bc');
    assert.equal(r.skipBuffered(2), false);
    assert.equal(r.skipBuffered(1), true);
    assert.deepEqual([r.position, state.pulled], [4, 1]);
    assert.equal((await r.chunk())?.toString(), 'ef');
    r.unread(Buffer.from('f'));
    assert.equal(r.position, 5, 'a chunk counts once taken, and what was given back no more');
  });

  it('any reads, skips, streams, give-backs and takes of what is at hand, over any chunking, give the bytes in order', async () => {
    const op = fc.record({ kind: fc.constantFrom('read', 'skip', 'stream', 'unread', 'takeBuffered', 'skipBuffered'), n: fc.nat({ max: 7 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 6 }), { maxLength: 8 }), fc.array(op, { maxLength: 12 }), async (chunks, ops) => {
        const all = chunks.join('');
        const { r } = reader(chunks);
        let at = 0;
        for (const { kind, n } of ops) {
          if (kind === 'unread') {
            // Gives back up to n of the bytes just read.
            const back = Math.min(n, at);
            r.unread(Buffer.from(all.slice(at - back, at)));
            at -= back;
            assert.equal(r.position, at);
            continue;
          }
          if (kind === 'takeBuffered' || kind === 'skipBuffered') {
            // Whatever is at hand or nothing: never past the data's end, never a pull.
            const got = kind === 'takeBuffered' ? r.takeBuffered(n)?.toString() : r.skipBuffered(n) ? all.slice(at, at + n) : undefined;
            if (got !== undefined) {
              assert.equal(got, all.slice(at, at + n));
              at += n;
            }
            assert.equal(r.position, at);
            continue;
          }
          if (at + n > all.length) {
            if (kind === 'read' && at === all.length && n > 0) assert.equal(await r.read(n), undefined);
            else if (n > 0) await assert.rejects(kind === 'read' ? r.read(n) : kind === 'skip' ? r.skip(n) : collect(r.stream(n)), Truncated);
            return;
          }
          const want = all.slice(at, at + n);
          if (kind === 'read') assert.equal((await r.read(n))?.toString(), want);
          else if (kind === 'skip') await r.skip(n);
          else assert.equal((await collect(r.stream(n))).join(''), want);
          at += n;
          assert.equal(r.position, at);
        }
        assert.equal((await r.read(all.length - at))?.toString() ?? '', all.slice(at));
      }),
      { numRuns: 500 },
    );
  });
});
