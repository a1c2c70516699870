// The parts of hpack.js (no published types) that Coracle uses: its bit-level decoder and its
// header table (static and dynamic). The stream wrappers around them are not used.
declare module 'hpack.js' {
  export interface TableEntry {
    name: string;
    value: string;
    nameSize: number;
  }
  export interface Table {
    lookup(index: number): TableEntry;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
  }
  export interface Decoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    /** Octets: a Buffer for a plain string, an array for a Huffman-coded one. */
    decodeStr(): ArrayLike<number>;
  }
  const hpack: {
    decoder: { create(): Decoder };
    table: { create(options: { maxSize: number }): Table };
    utils: { stringify(octets: ArrayLike<number>): string };
  };
  export default hpack;
}
