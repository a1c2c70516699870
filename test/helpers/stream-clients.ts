import { execFile, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { SpdySession, type SpdyStream } from '../../src/streaming/spdy-session.js';

const run = promisify(execFile);

/** Where the Go client's source is: beside this file in the source tree (tsc leaves .go alone). */
const GO_CLIENT_SRC = fileURLToPath(new URL('../../../test/helpers/spdy-client/', import.meta.url));

let goClient: Promise<string> | undefined;

/**
 * Builds the Go spdystream client once per run, from Debian's package in GOPATH mode, into
 * a temp dir removed when the run ends.
 */
export function buildGoClient(): Promise<string> {
  goClient ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-spdy-client-'));
    // 'exit' handlers run synchronously: an async rm would never finish.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'spdy-client');
    await run('go', ['build', '-o', out, '.'], {
      cwd: GO_CLIENT_SRC,
      env: { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(dir, 'cache') },
      timeout: 120_000,
    });
    return out;
  })();
  return goClient;
}

export interface GoClientResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** What the client printed on fd 3: the negotiated protocol and the error stream. */
  status: string;
}

/** Runs the Go client; `input` is its stdin (ended after). */
export function runGoClient(bin: string, args: string[], input?: Buffer | string): Promise<GoClientResult> & { kill(): void; statusLine: Promise<string> } {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  let status = '';
  let firstLine: (line: string) => void = () => undefined;
  const statusLine = new Promise<string>((resolve) => (firstLine = resolve));
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  (child.stdio[3] as Readable).on('data', (c: Buffer) => {
    status += c.toString();
    if (status.includes('\n')) firstLine(status.split('\n')[0]!);
  });
  child.stdin.on('error', () => undefined);
  if (input !== undefined) child.stdin.end(input);
  const done = new Promise<GoClientResult>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr, status }));
  });
  return Object.assign(done, { kill: () => child.kill('SIGKILL'), statusLine });
}

/** An HTTP/1.1 upgrade to SPDY/3.1 offering `protocols`; a refusal rejects with its status and body. */
export function spdyConnect(url: string, protocols: string[]): Promise<{ session: SpdySession; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', ...(protocols.length ? { 'X-Stream-Protocol-Version': protocols } : {}) },
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      resolve({ session: new SpdySession(socket, 'client'), protocol: String(res.headers['x-stream-protocol-version'] ?? '') });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
    });
    req.on('error', reject);
    req.end();
  });
}

export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

export interface ExecResult {
  protocol: string;
  stdout: string;
  stderr: string;
  /** The error stream's contents. */
  error: string;
}

/**
 * Exec or attach as client-go does it over SPDY: the error stream first, then one stream per
 * channel, each waited for; then stdin is written and closed, outputs read to their end.
 */
export async function spdyExec(
  url: string,
  o: { stdin?: string | ((s: SpdyStream) => Promise<void>); stdout?: boolean; stderr?: boolean; tty?: boolean; sizes?: { Width: number; Height: number }[]; protocols?: string[] },
): Promise<ExecResult> {
  const { session, protocol } = await spdyConnect(url, o.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']);
  try {
    const error = await session.openStream({ streamType: 'error' });
    const errorText = readAll(error);
    const stdin = o.stdin !== undefined ? await session.openStream({ streamType: 'stdin' }) : undefined;
    const stdout = o.stdout ? await session.openStream({ streamType: 'stdout' }) : undefined;
    const stderr = o.stderr ? await session.openStream({ streamType: 'stderr' }) : undefined;
    const outputs = [stdout ? readAll(stdout) : Promise.resolve(Buffer.alloc(0)), stderr ? readAll(stderr) : Promise.resolve(Buffer.alloc(0))];
    if (o.tty) {
      const resize = await session.openStream({ streamType: 'resize' });
      for (const s of o.sizes ?? []) resize.write(`${JSON.stringify(s)}\n`);
    }
    if (stdin && typeof o.stdin === 'string') stdin.end(o.stdin);
    else if (stdin && typeof o.stdin === 'function') await o.stdin(stdin);
    const [out, err] = await Promise.all(outputs);
    return { protocol, stdout: out!.toString(), stderr: err!.toString(), error: (await errorText).toString() };
  } finally {
    session.close(500);
  }
}

/** Every message a websocket got, from its very start: the server may write as it opens. */
const received = new WeakMap<WebSocket, { data: Buffer; isBinary: boolean }[]>();

/** A websocket to a streaming URL (http: becomes ws:) offering `protocols`. */
export function wsConnect(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    const all: { data: Buffer; isBinary: boolean }[] = [];
    received.set(ws, all);
    // Listening before 'open': a frame that came with the upgrade is emitted in the same tick.
    ws.on('message', (data: Buffer, isBinary: boolean) => all.push({ data, isBinary }));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** Every message of a websocket until it closes, decoded into channel and payload. */
export function wsMessages(ws: WebSocket, base64: boolean): Promise<{ messages: { channel: number; data: Buffer }[]; code: number }> {
  const decode = ({ data, isBinary }: { data: Buffer; isBinary: boolean }): { channel: number; data: Buffer } => {
    if (base64 && !isBinary) {
      const text = data.toString('latin1');
      return { channel: text.charCodeAt(0) - 48, data: Buffer.from(text.slice(1), 'base64') };
    }
    return { channel: data[0]!, data: data.subarray(1) };
  };
  return new Promise((resolve) => ws.once('close', (code: number) => resolve({ messages: (received.get(ws) ?? []).map(decode), code })));
}

/** A channel's payloads joined. */
export function channelText(messages: { channel: number; data: Buffer }[], channel: number): string {
  return Buffer.concat(messages.filter((m) => m.channel === channel).map((m) => m.data)).toString();
}
