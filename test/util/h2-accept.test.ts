import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Http2Gate } from '../../src/util/h2-accept.js';
import { encodeHeaderBlock, HeaderBlockDecoder } from '../../src/util/hpack-block.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { frame, grpcHeaders, PREFACE } from '../helpers/raw-h2-client.js';

const SETTINGS = frame(0x4, 0, 0, Buffer.alloc(6));
const ACK = frame(0x4, 0x1, 0, Buffer.alloc(0));
const headers = (authority: string): Buffer =>
  frame(0x1, 0x4, 1, encodeHeaderBlock(grpcHeaders('/runtime.v1.RuntimeService/Version', authority).map(([name, value]) => ({ name, value }))));
const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A gate on a unix socket of its own; `injected` gets what it hands over. */
async function gateOnSocket(timeoutMs?: number): Promise<{ gate: Http2Gate; client: Socket; injected: Promise<{ conn: Duplex; rewritten: boolean }>; closed: Promise<void> }> {
  let hand!: (v: { conn: Duplex; rewritten: boolean }) => void;
  const injected = new Promise<{ conn: Duplex; rewritten: boolean }>((r) => (hand = r));
  const gate = new Http2Gate((conn, rewritten) => hand({ conn, rewritten }), () => undefined, timeoutMs);
  const server: Server = createServer((s) => gate.accept(s));
  const path = join(await tempDir(), 'gate.sock');
  await new Promise<void>((r) => server.listen(path, r));
  onCleanup('close the gate server', () => new Promise((r) => server.close(r)));
  const client = connect(path);
  client.on('error', () => undefined);
  onCleanup('close the client', () => client.destroy());
  const closed = new Promise<void>((r) => client.on('close', () => r()));
  client.resume();
  return { gate, client, injected, closed };
}

/** Reads `conn` until `enough` says so (5 s at most, so a slow machine only waits longer). */
async function readUntil(conn: Duplex, enough: (got: Buffer) => boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  conn.on('data', (c: Buffer) => parts.push(c));
  conn.resume();
  for (let i = 0; i < 500 && !enough(Buffer.concat(parts)); i++) await tick(10);
  return Buffer.concat(parts);
}

/** Enough bytes for `prefix` and one whole frame after it. */
const prefixAndFrame = (prefix: number) => (got: Buffer): boolean => got.length >= prefix + 9 && got.length >= prefix + 9 + got.readUIntBE(prefix, 3);

describe('util: the HTTP/2 gate before the CRI server', () => {
  it('answers the preface with SETTINGS of its own and hands the socket over as it is, less their ACK split across reads', async () => {
    const { client, injected } = await gateOnSocket();
    // grpc-go's order: preface and settings, then (having the server's) its ACK, then a request.
    client.write(Buffer.concat([PREFACE, SETTINGS]));
    const own = await readUntil(client, (got) => got.length >= 9);
    assert.deepEqual(own, frame(0x4, 0, 0, Buffer.alloc(0)), 'the daemon\'s own SETTINGS');
    client.write(ACK.subarray(0, 5));
    await tick();
    client.write(Buffer.concat([ACK.subarray(5), headers('localhost')]));
    const { conn, rewritten } = await injected;
    assert.equal(rewritten, false);
    const expected = Buffer.concat([PREFACE, SETTINGS, headers('localhost')]);
    assert.deepEqual(await readUntil(conn, (got) => got.length >= expected.length), expected);
    conn.destroy();
  });

  it('a request before the ACK waits for it; a path authority gets a rewriting stream', async () => {
    const { client, injected } = await gateOnSocket();
    client.write(Buffer.concat([PREFACE, SETTINGS, headers('/run/coracle/coracle.sock')]));
    await tick();
    let handed = false;
    void injected.then(() => (handed = true));
    await tick();
    assert.equal(handed, false, 'no hand-over before the ACK');
    client.write(ACK);
    const { conn, rewritten } = await injected;
    assert.equal(rewritten, true);
    const out = await readUntil(conn, prefixAndFrame(PREFACE.length + SETTINGS.length));
    assert.deepEqual(out.subarray(0, PREFACE.length + SETTINGS.length), Buffer.concat([PREFACE, SETTINGS]));
    const block = out.subarray(PREFACE.length + SETTINGS.length + 9);
    const fields = new HeaderBlockDecoder().decode(block);
    assert.equal(fields.find((f) => f.name === ':authority')?.value, 'localhost');
    conn.destroy();
  });

  it('closes a connection whose first request does not come in time, and the waiting ones when it is closed', async () => {
    const slow = await gateOnSocket(150);
    slow.client.write(Buffer.concat([PREFACE, SETTINGS, ACK]));
    await slow.closed;
    const idle = await gateOnSocket();
    idle.client.write(PREFACE);
    await tick();
    idle.gate.close();
    await idle.closed;
  });
});
