/**
 * The caps every streaming connection lives under, in one place. The daemon takes them from
 * the `[streaming]` section of its config (src/config/defaults.ts says what each does); the
 * defaults here are the same values, for the SPDY client the tests and the CLI build.
 */
export interface StreamingLimits {
  /** Bytes one SPDY header block may inflate to; past it the connection is a protocol error. */
  maxHeaderBytes: number;
  /** Streams open at once on one SPDY connection; more are refused (RST_STREAM REFUSED_STREAM). */
  maxStreams: number;
  /**
   * Bytes one connection may hold that were received and not yet taken by their reader;
   * past it the connection's socket is not read until its readers catch up. Counted apart,
   * the same cap holds what a SPDY connection queued for its client and the client has not
   * read: past it the connection's sources are held, new streams' too (src/streaming/outbound.ts).
   */
  maxBufferedBytes: number;
  /**
   * Bytes all connections together may hold that were received and not yet taken; past it a
   * connection holding more than its floor (src/streaming/byte-budget.ts) is not read.
   */
  maxTotalBufferedBytes: number;
  /** Connections upgraded with a valid token, at once; one more is answered 503. */
  maxConnections: number;
  /** Connections not upgraded yet, at once; one more closes the oldest of them. */
  maxPendingConnections: number;
}

export const DEFAULT_STREAMING_LIMITS: Readonly<StreamingLimits> = Object.freeze({
  maxHeaderBytes: 256 << 10,
  maxStreams: 1024,
  maxBufferedBytes: 4 << 20,
  maxTotalBufferedBytes: 64 << 20,
  maxConnections: 128,
  maxPendingConnections: 64,
});

/**
 * The largest websocket message accepted. `ws` holds a message whole until its last frame,
 * so this is buffered memory too: at most a quarter of the connection's budget, and never
 * more than 1 MiB (kubectl writes stdin and port-forward data in 32 KiB pieces).
 */
export function wsMaxPayload(l: StreamingLimits): number {
  return Math.max(64 << 10, Math.min(1 << 20, Math.floor(l.maxBufferedBytes / 4)));
}

/**
 * What a single SPDY stream may buffer before anyone reads or pauses it (a client may write
 * stdin while it is still opening its other streams): past it that stream is reset.
 */
export function unreadStreamLimit(l: StreamingLimits): number {
  return Math.max(64 << 10, Math.floor(l.maxBufferedBytes / 4));
}

/** What one stream with a reader may hold before the connection stops being read. */
export const STREAM_HIGH_WATER_MARK = 256 << 10;
