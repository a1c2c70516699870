import { createRequire } from 'node:module';

/**
 * zstd decompression of a layer blob, as a pull-driven stream (the tar reader pulls each
 * chunk as it writes files), so that memory stays bounded whatever the blob holds.
 *
 * The decoder is zstd-napi: Node-API bindings to the reference libzstd (vendored, built at
 * install from the package's own sources, as node-pty is; setup.sh tells its install script
 * not to look for a prebuilt to download). Why this one: Node 20's zlib has no zstd; the
 * other npm decoders either hand back only whole buffers (@mongodb-js/zstd, zstddec and the
 * WASM ports: a layer of gigabytes in memory, and @mongodb-js/zstd 2+ downloads a binary at
 * install), or are pure JavaScript (fzstd: several times slower than libzstd on
 * compressible layers, copies its whole window once per block, which a frame of tiny blocks
 * turns into minutes of CPU, and lets a frame claim a 2 GiB window). libzstd decodes at
 * memory speed, streams, and caps the window a frame may ask for.
 *
 * Its own DecompressStream is not used: it decodes a whole input chunk in one go and pushes
 * every output buffer without waiting for the reader, so a megabyte of RLE blocks (four
 * bytes each, 128 KiB out each) would be gigabytes queued in memory. Here each output
 * buffer is yielded and the next one decoded only once the consumer asks for it.
 */

type Binding = typeof import('zstd-napi/binding.js');
let loaded: Binding | undefined;
/**
 * Loaded on the first zstd layer, in the unpack worker that meets it: the daemon's main
 * thread imports this module (through unpack.ts) but never decodes. The package is CommonJS
 * and its binding module sets module.exports from a .node file, which ESM's named imports
 * cannot see.
 */
const zstd = (): Binding => (loaded ??= createRequire(import.meta.url)('zstd-napi/binding.js') as Binding);

/**
 * The largest window a frame may ask for, as a power of two: 2^27 = 128 MiB, libzstd's own
 * default (ZSTD_WINDOWLOG_LIMIT_DEFAULT; `zstd -d` refuses more without --memory). It is the
 * decoder's memory bound, as 32 KiB is gzip's; `zstd --ultra -22` stays within it. A frame
 * that claims more fails with libzstd's "Frame requires too much memory for decoding"
 * before anything is allocated for it.
 */
const WINDOW_LOG_MAX = 27;

/**
 * A decoding context kept for the next layer. Module state is per thread, and an unpack worker
 * unpacks one layer at a time, so each worker keeps at most one: its buffers (the window of
 * the last frame, 2 to 8 MiB for levels 3 to 19) are reused rather than left for a GC that an
 * idle worker may not run for a long time.
 */
let spare: InstanceType<Binding['DCtx']> | undefined;

/**
 * The decompressed bytes of the zstd frames in `source` (concatenated and skippable frames
 * too, as `zstd -d` reads them). Fails on corrupt data, a checksum mismatch, a window over
 * the cap, or a stream that ends inside a frame.
 */
export async function* zstdDecompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const binding = zstd();
  const dctx = spare ?? new binding.DCtx();
  spare = undefined;
  // A context given up mid-frame (an unpack that failed or was abandoned) starts clean; the
  // cap is set again in case a reset to defaults ever happens in between.
  dctx.reset(binding.ResetDirective.sessionOnly);
  dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
  const outSize = binding.dStreamOutSize();
  let inFrame = false;
  try {
    for await (const chunk of source) {
      let src: Buffer = chunk;
      for (;;) {
        const dst = Buffer.allocUnsafe(outSize);
        let hint: number;
        let produced: number;
        let consumed: number;
        try {
          [hint, produced, consumed] = dctx.decompressStream(dst, src);
        } catch (err) {
          // libzstd's own words: "Data corruption detected", "Unknown frame descriptor", …
          throw new Error(`zstd: ${(err as Error).message}`, { cause: err });
        }
        if (consumed === 0 && produced === 0 && src.length > 0) throw new Error('zstd: the decoder made no progress');
        src = src.subarray(consumed);
        // 0: a frame just ended, and nothing of it is left to flush.
        inFrame = hint !== 0;
        if (produced > 0) yield dst.subarray(0, produced);
        // A full buffer may mean more output is waiting inside libzstd, even with no input left.
        if (src.length === 0 && produced < dst.length) break;
      }
    }
    if (inFrame) throw new Error('zstd: unexpected end of data: the stream ends inside a frame');
  } finally {
    spare = dctx;
  }
}
