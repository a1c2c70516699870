import assert from 'node:assert/strict';
import { encodeHeaderBlock, HeaderBlockDecoder } from '../../src/util/hpack-block.js';

/** A literal with incremental indexing and a new name (RFC 7541 6.2.1): it adds the field to the table, at index 62. */
function indexing(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}
/** Indexed fields of one byte each (RFC 7541 6.1). */
const indexed = (...indexes: number[]): Buffer => Buffer.from(indexes.map((i) => 0x80 | i));
/** A dynamic table size update (RFC 7541 6.3) to `size`, an integer with a 5-bit prefix (5.1). */
function sizeUpdate(size: number): Buffer {
  if (size < 31) return Buffer.from([0x20 | size]);
  const bytes = [0x20 | 31];
  for (size -= 31; size >= 128; size = Math.floor(size / 128)) bytes.push(0x80 | size % 128);
  return Buffer.from([...bytes, size]);
}
/** The table emptied (size 0), then allowed its default size again. */
const emptied = (): Buffer => Buffer.concat([sizeUpdate(0), sizeUpdate(4096)]);

const POST = { name: ':method', value: 'POST' };
const HTTP = { name: ':scheme', value: 'http' };
const ROOT = { name: ':path', value: '/' };

describe('util/hpack-block: the decoder', () => {
  // Each case: blocks decoded in order by one decoder, and the list each decodes to.
  const cases: { name: string; blocks: Buffer[]; want: { name: string; value: string }[][] }[] = [
    {
      name: 'a repeated block of static indexes decodes the same each time',
      blocks: [indexed(3, 6, 4), indexed(3, 6, 4)],
      want: [[POST, HTTP, ROOT], [POST, HTTP, ROOT]],
    },
    {
      name: 'a repeated block of dynamic indexes follows the table as later blocks change it',
      blocks: [indexing('x-a', '1'), indexed(3, 62), indexing('x-a', '2'), indexed(3, 62), indexed(3, 63)],
      want: [[{ name: 'x-a', value: '1' }], [POST, { name: 'x-a', value: '1' }], [{ name: 'x-a', value: '2' }], [POST, { name: 'x-a', value: '2' }], [POST, { name: 'x-a', value: '1' }]],
    },
    {
      name: 'a table emptied by a size update is not read from what was decoded before it',
      blocks: [indexing('x-b', 'v'), indexed(62), emptied(), indexing('x-c', 'w'), indexed(62)],
      want: [[{ name: 'x-b', value: 'v' }], [{ name: 'x-b', value: 'v' }], [], [{ name: 'x-c', value: 'w' }], [{ name: 'x-c', value: 'w' }]],
    },
    {
      name: 'literals without indexing and an empty block decode as they are',
      blocks: [encodeHeaderBlock([{ name: 'x-d', value: 'z' }]), Buffer.alloc(0), indexing('x-e', 'q'), indexed(62)],
      want: [[{ name: 'x-d', value: 'z' }], [], [{ name: 'x-e', value: 'q' }], [{ name: 'x-e', value: 'q' }]],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decoder = new HeaderBlockDecoder();
      c.blocks.forEach((block, i) => assert.deepEqual(decoder.decode(block), c.want[i], `block ${i}`));
    });
  }

  it('hands out the same frozen list for a repeated short block of indexes, and a list of its own for any other', () => {
    const decoder = new HeaderBlockDecoder();
    const first = decoder.decode(indexed(3, 6, 4));
    assert.equal(decoder.decode(indexed(3, 6, 4)), first);
    assert.ok(Object.isFrozen(first) && first.every((h) => Object.isFrozen(h)));
    const literal = encodeHeaderBlock([{ name: 'x-f', value: '1' }]);
    assert.notEqual(decoder.decode(literal), decoder.decode(literal));
    // Past 64 bytes a block of indexes is decoded each time: what is remembered stays small.
    const long = indexed(...Array<number>(65).fill(3));
    assert.equal(decoder.decode(long).length, 65);
    assert.notEqual(decoder.decode(long), decoder.decode(long));
  });

  it('fails an index the table does not hold, remembered or not', () => {
    const decoder = new HeaderBlockDecoder();
    assert.deepEqual(decoder.decode(indexing('x-g', '1')), [{ name: 'x-g', value: '1' }]);
    assert.deepEqual(decoder.decode(indexed(62)), [{ name: 'x-g', value: '1' }]);
    decoder.decode(emptied());
    assert.throws(() => decoder.decode(indexed(62)), /header block/);
  });
});
