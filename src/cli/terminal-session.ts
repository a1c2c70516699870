import { WebSocket } from 'ws';
import type { StreamEndpoint } from './daemon-target.js';

/** Ctrl+P Ctrl+Q, docker's detach keys. */
const DETACH = Buffer.from([0x10, 0x11]);
const CLOSE_SIGNAL = 255;
/** What of a refusal's body is shown (the daemon's are one line). */
const MAX_REFUSAL_BYTES = 1024;

export interface SessionOptions {
  stdin: boolean;
  tty: boolean;
  /** Ctrl+P Ctrl+Q ends the session and leaves the process running (attach, run -it). */
  detachKeys: boolean;
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream & { columns?: number; rows?: number; on(event: 'resize', l: () => void): unknown };
  errors: NodeJS.WritableStream;
}

/** How a session ended: the process's exit code, or a detach. */
export type SessionEnd = { kind: 'exited'; exitCode: number } | { kind: 'detached' } | { kind: 'failed'; message: string };

/**
 * The client end of an exec or attach: the streaming endpoint over websocket
 * (v5.channel.k8s.io: stdin 0, stdout 1, stderr 2, error 3, resize 4, and a close signal for
 * stdin), with the local terminal in raw mode when there is a tty, its size sent now and at
 * each resize. Over TCP, with the client's certificate, the daemon checked against the CA.
 */
export function runSession(endpoint: StreamEndpoint, o: SessionOptions): Promise<SessionEnd> {
  return new Promise((resolve) => {
    // ALPN http/1.1: the daemon's TLS listener tells its streaming clients from its gRPC ones by it.
    const tls = endpoint.tls ? { ca: endpoint.tls.ca, cert: endpoint.tls.cert, key: endpoint.tls.key, ALPNProtocols: ['http/1.1'] } : {};
    const ws = new WebSocket(endpoint.url, ['v5.channel.k8s.io'], tls);
    let status = '';
    let detached = false;
    let matched = 0;
    const raw = o.tty && o.input.isTTY === true && typeof o.input.setRawMode === 'function';
    const send = (channel: number, data: Buffer): void => {
      if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
    };
    const sendSize = (): void => {
      if (o.output.columns && o.output.rows) send(4, Buffer.from(JSON.stringify({ Width: o.output.columns, Height: o.output.rows })));
    };
    const onInput = (chunk: Buffer): void => {
      if (!o.detachKeys) {
        send(0, chunk);
        return;
      }
      // The keys are held back until it is clear they are not the sequence.
      const out: number[] = [];
      for (const byte of chunk) {
        if (byte === DETACH[matched]) {
          if (++matched === DETACH.length) {
            detached = true;
            ws.close(1000);
            return;
          }
          continue;
        }
        out.push(...DETACH.subarray(0, matched));
        matched = byte === DETACH[0] ? 1 : 0;
        if (matched === 0) out.push(byte);
      }
      if (out.length > 0) send(0, Buffer.from(out));
    };
    const onEnd = (): void => send(CLOSE_SIGNAL, Buffer.from([0]));
    const cleanup = (): void => {
      o.input.removeListener('data', onInput);
      o.input.removeListener('end', onEnd);
      if (raw) o.input.setRawMode!(false);
      o.input.pause();
    };
    ws.on('open', () => {
      if (o.stdin) {
        if (raw) o.input.setRawMode!(true);
        o.input.on('data', onInput);
        o.input.on('end', onEnd);
        o.input.resume();
      }
      if (o.tty) {
        sendSize();
        o.output.on('resize', sendSize);
      }
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === 1) o.output.write(payload);
      else if (channel === 2) o.errors.write(payload);
      else if (channel === 3) status += payload.toString();
    });
    ws.on('unexpected-response', (req, res) => {
      cleanup();
      // The body says why (a certificate the daemon does not allow); read a line of it, no more.
      let body = '';
      let told = false;
      const done = (): void => {
        if (told) return;
        told = true;
        req.destroy();
        const why = body.trim().split('\n')[0];
        resolve({ kind: 'failed', message: `streaming server said ${res.statusCode}${why ? `: ${why}` : ''}` });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= MAX_REFUSAL_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    ws.on('error', (err) => {
      cleanup();
      resolve({ kind: 'failed', message: err.message });
    });
    ws.on('close', () => {
      cleanup();
      if (detached) return resolve({ kind: 'detached' });
      if (!status) return resolve({ kind: 'exited', exitCode: 0 });
      try {
        const s = JSON.parse(status) as { status?: string; reason?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } };
        if (s.status === 'Success') return resolve({ kind: 'exited', exitCode: 0 });
        const code = s.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
        if (s.reason === 'NonZeroExitCode' && code !== undefined) return resolve({ kind: 'exited', exitCode: Number(code) });
        return resolve({ kind: 'failed', message: s.message ?? status });
      } catch {
        return resolve({ kind: 'failed', message: status });
      }
    });
  });
}
