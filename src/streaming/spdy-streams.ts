import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from '../log.js';
import { statusPayload, type ClientStreams, type StreamOptions } from './remote-command.js';
import { RstStatus } from './spdy-frames.js';
import type { SpdySession } from './spdy-session.js';
import type { SpdyStream } from './spdy-stream.js';

/** remotecommand over SPDY, newest first; v5 adds nothing over v4 on SPDY. */
export const SPDY_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * Collects the streams an exec or attach client opens, one per stdio channel plus error
 * (and resize with a tty, from v3). Each is replied to as it comes; nothing is written to
 * any of them until all have come, because the Go client reads none of its streams before
 * it has opened the last one, and a DATA frame it cannot deliver stalls its whole
 * connection.
 */
export function spdyClientStreams(session: SpdySession, protocol: string, o: StreamOptions, timeoutMs: number): Promise<ClientStreams> {
  const version = protocol === 'channel.k8s.io' ? 1 : Number(/^v(\d)/.exec(protocol)?.[1] ?? 1);
  const expected = new Set<StreamType>(['error']);
  if (o.stdin) expected.add('stdin');
  if (o.stdout) expected.add('stdout');
  if (o.stderr && !o.tty) expected.add('stderr');
  if (o.tty && version >= 3) expected.add('resize');
  const got = new Map<StreamType, SpdyStream>();
  const all: SpdyStream[] = [];

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.close();
      reject(new Error(`timed out waiting for client to create streams (have ${[...got.keys()].join(', ') || 'none'})`));
    }, timeoutMs);
    const onClose = (): void => {
      clearTimeout(timer);
      reject(new Error('client closed the connection before creating its streams'));
    };
    session.once('close', onClose);
    session.on('stream', (s: SpdyStream) => {
      s.reply();
      all.push(s);
      const type = s.headers['streamtype'] as StreamType | undefined;
      if (!type || !expected.has(type) || got.has(type)) {
        // Replied to but unused, as kubelet does with a stream type it does not expect.
        s.resume();
        return;
      }
      got.set(type, s);
      if (got.size < expected.size) return;
      clearTimeout(timer);
      session.off('close', onClose);
      // Nothing reads stdin until the process has started, and the Go client writes it as
      // soon as its stream is up: paused, it holds the connection up past its high-water mark
      // (backpressure) instead of being reset as a stream nobody reads.
      got.get('stdin')?.pause();
      const error = got.get('error')!;
      let finishing = false;
      const gone = new Promise<void>((res) => session.once('close', () => !finishing && res()));
      resolve({
        ...(got.has('stdin') ? { stdin: got.get('stdin')! } : {}),
        ...(got.has('stdout') ? { stdout: got.get('stdout')! } : {}),
        ...(got.has('stderr') ? { stderr: got.get('stderr')! } : {}),
        ...(got.has('resize') ? { resize: got.get('resize')! } : {}),
        gone,
        async finish(outcome) {
          finishing = true;
          const payload = statusPayload(outcome, version >= 4);
          if (payload) error.write(payload);
          const outputs = [error, got.get('stdout'), got.get('stderr')].filter((x): x is SpdyStream => x !== undefined);
          for (const out of outputs) out.end();
          await Promise.all(outputs.map((out) => finished(out, { readable: false }).catch(() => undefined)));
          // What the client still holds open (stdin, resize) is cancelled, then the connection goes.
          for (const s of all) if (!outputs.includes(s)) s.reset(RstStatus.CANCEL);
          session.close();
        },
      });
    });
  });
}

/**
 * Port forwarding over SPDY: per forwarded connection the client opens an error stream
 * and a data stream with the same `requestID` and a `port`; once both are here the data
 * stream is connected to the port. A failure is written on the error stream.
 */
export function serveSpdyPortForward(
  session: SpdySession,
  podId: string,
  forward: (port: number, stream: Duplex) => Promise<void>,
  timeoutMs: number,
  log: Logger,
): void {
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  session.on('stream', (s: SpdyStream) => {
    const type = s.headers['streamtype'];
    const portText = s.headers['port'] ?? '';
    const port = Number(portText);
    if (!portText || !Number.isInteger(port) || port <= 0 || port > 65535 || (type !== 'data' && type !== 'error')) {
      log.info('port-forward: stream refused', { pod: podId, headers: s.headers });
      s.reset(RstStatus.CANCEL);
      return;
    }
    s.reply();
    // Clients older than requestID pair streams by id: error n, data n+2.
    const key = s.headers['requestid'] ?? String(type === 'error' ? s.id : s.id - 2);
    let pair = pairs.get(key);
    if (!pair) {
      const p = {
        timer: setTimeout(() => {
          pairs.delete(key);
          p.error?.end(`(request=${key}) timed out waiting for streams`);
          p.data?.reset();
        }, timeoutMs),
      } as { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout };
      pair = p;
      pairs.set(key, pair);
    }
    if (pair[type]) {
      s.resume();
      s.end(`error processing stream for request ${key}: ${type} stream already assigned`);
      return;
    }
    pair[type] = s;
    // The client writes a data stream as soon as it is up; paused, what it sends past the
    // stream's high-water mark before the pair is whole and connected holds the connection
    // up (backpressure) instead of getting the stream reset as one nobody reads.
    if (type === 'data') s.pause();
    if (!pair.data || !pair.error) return;
    clearTimeout(pair.timer);
    pairs.delete(key);
    const { data, error } = pair;
    error.resume();
    forward(port, data).then(
      () => {
        data.end();
        error.end();
      },
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        log.info('port-forward: failed', { pod: podId, port, error: message });
        error.end(`error forwarding port ${port} to pod ${podId}, uid : ${message}`);
        data.reset();
      },
    );
  });
  session.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
}
