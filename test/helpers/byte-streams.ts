/**
 * `data` as a source of chunks, as a download or a blob read hands them: `singles` single
 * bytes first (what sniffs the compression has to gather them), then `size`-byte chunks;
 * with `pause`, each chunk a turn of the event loop after the last (as a read or a download
 * hands them), not in the same one. `log` tells whether the source was read to its end
 * ('ended') and closed ('closed').
 */
export function chunked(data: Buffer, size: number, o: { log?: string[]; singles?: number; pause?: boolean } = {}): AsyncGenerator<Buffer> {
  return (async function* () {
    try {
      let off = 0;
      for (; off < Math.min(o.singles ?? 0, data.length); off++) yield data.subarray(off, off + 1);
      for (; off < data.length; off += size) {
        if (o.pause && off > 0) await new Promise((r) => setImmediate(r));
        yield data.subarray(off, off + size);
      }
      o.log?.push('ended');
    } finally {
      o.log?.push('closed');
    }
  })();
}

/** Every byte of `source`, in one Buffer. */
export async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}
