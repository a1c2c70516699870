import { Duplex, Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { ByteBudget, CONNECTION_FLOOR } from './byte-budget.js';
import { Inbound } from './inbound.js';
import { STREAM_HIGH_WATER_MARK } from './limits.js';
import { statusPayload, type ClientStreams, type StreamOptions } from './remote-command.js';

/**
 * Kubernetes' channel protocols over websocket: each message is one channel's data, its
 * first byte the channel number (binary protocols) or the digit '0'+n followed by base64
 * (text protocols). v5 adds a close signal, [255, n], that ends channel n.
 */
export const WS_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];
export const WS_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];

const CLOSE_SIGNAL = 255;

/** One channel's input: a Readable holding nothing itself, fed from an Inbound (src/streaming/inbound.ts). */
class ChannelReader extends Readable {
  readonly inbound: Inbound;

  constructor(
    account: (delta: number) => void,
    private readonly onRead: () => void,
  ) {
    super({ highWaterMark: 0 });
    this.inbound = new Inbound((chunk) => this.push(chunk), account);
  }

  override _read(): void {
    this.inbound.want();
    this.onRead();
  }
}

/**
 * The channels of one websocket. The socket is not read while a channel holds more than a
 * stream's high-water mark that its reader has not taken (read or not, there is no reset on
 * a websocket: the client waits), while the connection holds more than its budget, or more
 * than its floor while the daemon-wide budget is spent.
 */
export class WsChannels {
  private readonly base64: boolean;
  private readonly v5: boolean;
  private readonly readers = new Map<number, ChannelReader>();
  private held = 0;
  private paused = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: string,
    private readonly maxBufferedBytes: number,
    private readonly budget: ByteBudget,
  ) {
    this.base64 = protocol.includes('base64');
    this.v5 = protocol.startsWith('v5.');
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    const unwatch = budget.watch(() => this.updateFlow());
    ws.once('close', () => {
      unwatch();
      // What no reader took is dropped; the readers see their end.
      for (const r of this.readers.values()) r.inbound.drop();
    });
  }

  /** What the client sends on channel `n`; its end is the v5 close signal or the connection's. */
  reader(n: number): Readable {
    let r = this.readers.get(n);
    if (!r) {
      r = new ChannelReader(
        (delta) => {
          this.held += delta;
          this.budget.add(delta);
        },
        () => this.updateFlow(),
      );
      this.readers.set(n, r);
      if (this.ws.readyState !== this.ws.OPEN) r.inbound.end();
    }
    return r;
  }

  private updateFlow(): void {
    let full = this.held > this.maxBufferedBytes || (this.held > CONNECTION_FLOOR && this.budget.over);
    for (const r of this.readers.values()) full ||= r.inbound.cost > STREAM_HIGH_WATER_MARK;
    if (full === this.paused) return;
    this.paused = full;
    if (full) this.ws.pause();
    else this.ws.resume();
  }

  /** Channel `n` toward the client; each write is one message, sent before the next. */
  writer(n: number, prefix?: Buffer): Writable {
    if (prefix) this.send(n, prefix);
    return new Writable({
      write: (chunk: Buffer, _enc, done) => this.send(n, chunk, done),
      final: (done) => {
        if (this.v5) this.sendRaw(Buffer.from([CLOSE_SIGNAL, n]), done);
        else done();
      },
    });
  }

  send(n: number, data: Buffer, done?: (err?: Error | null) => void): void {
    if (this.base64) this.sendRaw(String.fromCharCode(48 + n) + data.toString('base64'), done);
    else this.sendRaw(Buffer.concat([Buffer.from([n]), data]), done);
  }

  close(code = 1000): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code);
    setTimeout(() => this.ws.terminate(), 5_000).unref();
  }

  private sendRaw(frame: Buffer | string, done?: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      done?.();
      return;
    }
    // A vanished client is the connection's 'close', not a write error.
    this.ws.send(frame, { binary: typeof frame !== 'string' }, () => done?.());
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let channel: number;
    let payload: Buffer;
    if (this.base64 && !isBinary) {
      const text = data.toString('latin1');
      channel = text.charCodeAt(0) - 48;
      payload = Buffer.from(text.slice(1), 'base64');
    } else {
      channel = data[0] ?? -1;
      payload = data.subarray(1);
    }
    if (this.v5 && channel === CLOSE_SIGNAL && payload.length === 1) {
      this.readers.get(payload[0]!)?.inbound.end();
      return;
    }
    const r = this.readers.get(channel);
    if (!r || payload.length === 0) return;
    // `payload` is a view into the socket read it came in: the queue copies it out.
    r.inbound.feed(payload);
    this.updateFlow();
  }
}

/**
 * exec and attach over websocket: stdin 0, stdout 1, stderr 2, error 3, resize 4. As
 * kubelet does, one empty message on the first output channel tells the client the
 * streams are ready.
 */
export function wsClientStreams(ws: WebSocket, protocol: string, o: StreamOptions, maxBufferedBytes: number, budget: ByteBudget): ClientStreams {
  const ch = new WsChannels(ws, protocol, maxBufferedBytes, budget);
  const stdout = o.stdout ? ch.writer(1) : undefined;
  const stderr = o.stderr && !o.tty ? ch.writer(2) : undefined;
  ch.send(stdout ? 1 : stderr ? 2 : 3, Buffer.alloc(0));
  let finishing = false;
  return {
    ...(o.stdin ? { stdin: ch.reader(0) } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    resize: ch.reader(4),
    gone: new Promise((resolve) => void ch.closed.then(() => !finishing && resolve())),
    async finish(outcome) {
      finishing = true;
      const payload = statusPayload(outcome, /^v[45]\./.test(protocol));
      const outputs = [stdout, stderr].filter((x): x is Writable => x !== undefined);
      for (const out of outputs) out.end();
      await Promise.all(outputs.map((out) => finished(out).catch(() => undefined)));
      if (payload) await new Promise<void>((resolve) => ch.send(3, payload, () => resolve()));
      ch.close(1000);
    },
  };
}

/**
 * Port forwarding over websocket: the ports come with the request; port i has data
 * channel 2i and error channel 2i+1, each opened by the server with the port number as a
 * little-endian uint16.
 */
export function serveWsPortForward(
  ws: WebSocket,
  protocol: string,
  podId: string,
  ports: number[],
  forward: (port: number, stream: Duplex) => Promise<void>,
  log: Logger,
  maxBufferedBytes: number,
  budget: ByteBudget,
): void {
  const ch = new WsChannels(ws, protocol, maxBufferedBytes, budget);
  const runs = ports.map(async (port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    const input = ch.reader(2 * i);
    const output = ch.writer(2 * i, prefix);
    ch.send(2 * i + 1, prefix);
    const data = Duplex.from({ readable: input, writable: output });
    try {
      await forward(port, data);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.info('port-forward: failed', { pod: podId, port, error: message });
      ch.send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${podId}, uid : ${message}`));
    }
  });
  void Promise.all(runs).then(() => ch.close(1000));
}
