// The part of hpack.js (no published types) that Coracle uses: the decompressor.
declare module 'hpack.js' {
  export interface DecodedHeader {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  export interface Decompressor {
    write(chunk: Buffer): boolean;
    /** Decodes what was written, synchronously; a malformed block emits 'error' at once. */
    execute(): void;
    on(event: 'error', listener: (err: Error) => void): this;
    /** The next decoded header, or null. */
    read(): DecodedHeader | null;
  }
  const hpack: {
    decompressor: { create(options: { table: { size: number } }): Decompressor };
  };
  export default hpack;
}
