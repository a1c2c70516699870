import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { SpdySession } from '../../src/streaming/spdy-session.js';
import { readAll, spdyConnect } from './stream-clients.js';

const run = promisify(execFile);

/** A process's resident set (VmRSS) or its peak since the last reset (VmHWM), in bytes. */
export async function rssBytes(pid: number, which: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const m = new RegExp(`^${which}:\\s+(\\d+) kB$`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${which} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Resets a process's peak resident set to its current one (clear_refs 5, Linux 4.0+) and
 * returns that: VmHWM read later is the peak an attack caused, even one freed since.
 */
export async function resetPeakRss(pid: number): Promise<number> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
  return rssBytes(pid, 'VmHWM');
}

/** The kernel's most for one TCP socket's receive and send buffers (what a flood may sit in). */
export async function tcpBufferMax(): Promise<number> {
  const max = async (name: string): Promise<number> => Number((await readFile(`/proc/sys/net/ipv4/${name}`, 'utf8')).trim().split(/\s+/)[2]);
  return (await max('tcp_rmem')) + (await max('tcp_wmem'));
}

/** A SYN_STREAM for `streamId` carrying `block` as its header block, whatever it holds. */
export function rawSynStream(streamId: number, block: Buffer): Buffer {
  const head = Buffer.alloc(18);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(1, 2);
  head.writeUIntBE(10 + block.length, 5, 3);
  head.writeUInt32BE(streamId, 8);
  return Buffer.concat([head, block]);
}

/** A plain TCP connection to a URL's host and port, once connected. */
export function tcpConnect(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** What a socket receives until it closes (an error is a close too). */
export function untilClosed(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  s.on('error', () => undefined);
  return new Promise((resolve) => s.once('close', () => resolve(Buffer.concat(parts))));
}

/** A websocket upgrade done by hand: the raw socket after the 101, for frames no client would send. */
export function rawWsUpgrade(url: string, protocol: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': protocol,
      },
    });
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => reject(new Error(`HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Established TCP connections whose local port is `port` (the server's side of each). */
export async function establishedOn(port: string): Promise<number> {
  const { stdout } = await run('ss', ['-tnH', 'state', 'established', `( sport = :${port} )`]);
  return stdout.split('\n').filter((l) => l.trim() !== '').length;
}

/**
 * An exec of `cat` kept open over SPDY, to show a session is unaffected by another's attack:
 * `echo` sends a line and waits for it back, `finish` ends stdin and returns the error stream.
 */
export interface LiveExec {
  echo(line: string): Promise<void>;
  finish(): Promise<string>;
  session: SpdySession;
}

export async function liveExec(url: string): Promise<LiveExec> {
  const { session } = await spdyConnect(url, ['v4.channel.k8s.io']);
  const error = await session.openStream({ streamType: 'error' });
  const errorText = readAll(error);
  const stdin = await session.openStream({ streamType: 'stdin' });
  const stdout = await session.openStream({ streamType: 'stdout' });
  (await session.openStream({ streamType: 'stderr' })).resume();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  return {
    session,
    echo: (line) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!out.includes(line)) return;
          done();
          resolve();
        };
        const ended = (): void => {
          done();
          reject(new Error(`the exec ended before it echoed ${line}; it said ${JSON.stringify(out)}`));
        };
        const done = (): void => {
          stdout.off('data', check);
          stdout.off('end', ended);
          stdout.off('close', ended);
        };
        stdout.on('data', check);
        stdout.once('end', ended);
        stdout.once('close', ended);
        stdin.write(`${line}\n`);
      }),
    async finish() {
      stdin.end();
      const text = (await errorText).toString();
      session.close(500);
      return text;
    },
  };
}

/**
 * Writes up to `total` bytes to each stream, as fast as each takes them, and resolves with
 * the bytes the connection's socket actually sent, once every stream took its all or the
 * socket sent nothing more for `quietMs` (the server stopped reading; a server still reading
 * slowly only makes this return early, which can hide a fault but never invent one). A
 * stream the server resets stops being written.
 */
export async function flood(session: SpdySession, streams: Writable[], total: number, quietMs = 750): Promise<number> {
  const sent = (): number => (session.socket.bytesWritten ?? 0) - session.socket.writableLength;
  const chunk = Buffer.alloc(64 << 10, 'z');
  let stopped = false;
  const pumps = streams.map(async (s) => {
    let ended = false;
    const r = s as Writable & { resume?: () => void };
    r.resume?.();
    s.once('end', () => (ended = true));
    s.once('close', () => (ended = true));
    s.on('error', () => (ended = true));
    for (let n = 0; n < total && !stopped && !ended; n += chunk.length) {
      if (!s.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            s.off('drain', go);
            s.off('close', go);
            clearInterval(poll);
            resolve();
          };
          s.on('drain', go);
          s.on('close', go);
          const poll = setInterval(() => (stopped || ended) && go(), 50);
        });
      }
    }
  });
  const all = Promise.all(pumps).then(() => 'done' as const);
  let last = sent();
  let lastChange = Date.now();
  for (;;) {
    const r = await Promise.race([all, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 100))]);
    if (r === 'done') break;
    const now = sent();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) break;
  }
  stopped = true;
  return sent();
}

/**
 * Writes `unit(i)` for i below `count` to a socket as fast as it takes them, and resolves with
 * how many it took: all, or as many as went before the peer stopped reading for `quietMs`.
 */
export async function pump(socket: Socket, unit: (i: number) => Buffer, count: number, quietMs = 1_000): Promise<number> {
  for (let i = 0; i < count; i++) {
    if (socket.write(unit(i))) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(false), quietMs);
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
    if (!drained) return i + 1;
  }
  return count;
}

/** A client's websocket frame (binary, masked with a zero key, so its payload is as written). */
export function wsFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 65536 ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff]) : undefined;
  if (!head) throw new Error('wsFrame: payload too large for this helper');
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/**
 * An SPDY upgrade done by hand: the raw socket after the 101, never read (what the server
 * writes stays in the kernel's buffers and then in the server), and an encoder for frames.
 */
export function rawSpdyUpgrade(url: string, protocol: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocol } });
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    req.on('response', (res) => reject(new Error(`HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls a process's peak resident set until it has not grown for `quietMs` (or `maxMs` passed)
 * and returns it: an attack still being read slowly only makes this return early, which can
 * hide a fault but never invent one.
 */
export async function settledPeak(pid: number, quietMs = 3_000, maxMs = 90_000): Promise<number> {
  let peak = await rssBytes(pid, 'VmHWM');
  let since = Date.now();
  for (const end = Date.now() + maxMs; Date.now() < end && Date.now() - since < quietMs; ) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await rssBytes(pid, 'VmHWM');
    if (now > peak) {
      peak = now;
      since = Date.now();
    }
  }
  return peak;
}
