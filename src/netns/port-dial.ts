import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket, connect, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { makePipe } from '../util/pipe.js';

/**
 * One buffer for every read from every pod: each read is copied out to its size before the
 * next can happen (reads and their callbacks run one at a time on the event loop), so a
 * forwarded connection costs no read buffer of its own, and what it holds is what it read.
 */
const READ_BUFFER = Buffer.alloc(64 << 10);

/**
 * Connects `stream` to 127.0.0.1:`port` in a network namespace and copies both ways until
 * either side ends. Node never enters a namespace itself (its threads would not all
 * follow), so inside a pod's namespace the connection is made by `nsenter --net` running
 * socat, as dockershim did; in the host's namespace Node connects directly.
 *
 * What the pod sends is read only while `stream` takes it: a read waits for the last one's
 * 'drain', and none happens between the stream's 'hold' and 'release', nor while its
 * `holding` is true (the streaming server's connections hold every stream's source so while
 * their client leaves too much unread).
 * The pod side is read with `onread`, so that a paused read stops at once: nothing waits
 * in a buffer of Node's for each of many forwarded connections.
 */
export function forwardPort(netns: string | undefined, port: number, stream: Duplex, what: string): Promise<void> {
  // A client stream already gone has nothing to forward (and would never say 'close' again).
  if (stream.destroyed) return Promise.resolve();
  return netns ? forwardWithSocat(netns, port, stream, what) : forwardDirect(port, stream, what);
}

/** Copies reads from the pod into `to` as it takes them; `attach` gives it the socket read. */
function feeder(to: Duplex): { onread: { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean }; attach(from: Socket): void; detach(): void } {
  let from: Socket | undefined;
  let waiting = false;
  let held = (to as Duplex & { holding?: boolean }).holding === true;
  const go = (): void => {
    if (from && !from.destroyed && !waiting && !held) from.resume();
  };
  const onDrain = (): void => {
    waiting = false;
    go();
  };
  const onHold = (): void => {
    held = true;
    from?.pause();
  };
  const onRelease = (): void => {
    held = false;
    go();
  };
  to.on('drain', onDrain);
  to.on('hold', onHold);
  to.on('release', onRelease);
  return {
    onread: {
      buffer: READ_BUFFER,
      callback: (n, buf) => {
        if (to.destroyed || to.writableEnded) return false;
        waiting = !to.write(Buffer.from(buf.subarray(0, n)));
        // false stops reading at once; `go` starts it again.
        return !waiting && !held;
      },
    },
    attach(f) {
      from = f;
      // Held already: not one read (a socket made paused does not start reading).
      if (held) f.pause();
    },
    detach() {
      to.off('drain', onDrain);
      to.off('hold', onHold);
      to.off('release', onRelease);
    },
  };
}

function forwardDirect(port: number, stream: Duplex, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const feed = feeder(stream);
    const socket = connect({ host: '127.0.0.1', port, onread: feed.onread });
    feed.attach(socket);
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      feed.detach();
      stream.unpipe(socket);
      socket.destroy();
      if (err) reject(new Error(`${what}: failed to connect to localhost:${port} in the host's network namespace: ${err.message}`));
      else resolve();
    };
    socket.once('connect', () => stream.pipe(socket));
    socket.once('error', (err) => settle(err));
    socket.once('end', () => settle());
    stream.once('end', () => socket.end());
    stream.once('close', () => settle());
  });
}

function forwardWithSocat(netns: string, port: number, stream: Duplex, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // socat's stdout is a pipe of our own, read with `onread` (src/util/pipe.ts says why).
    const [readEnd, writeEnd] = makePipe();
    let child: ChildProcess;
    try {
      child = spawn('nsenter', [`--net=${netns}`, 'socat', '-', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', writeEnd, 'pipe'] });
    } catch (err) {
      closeSync(readEnd);
      throw err;
    } finally {
      closeSync(writeEnd);
    }
    const feed = feeder(stream);
    // Node's Socket constructor takes `onread` as connect() does (lib/net.js); its types list it for connect() only.
    const options: SocketConstructorOpts & { onread: OnReadOpts } = { fd: readEnd, readable: true, writable: false, onread: feed.onread };
    let fromPod: Socket;
    try {
      fromPod = new Socket(options);
    } catch (err) {
      // Node took no hold of the fd (it throws before wrapping it, e.g. EMFILE or a bad fd
      // type): ours to close, and socat, which would otherwise go on with its pipe's other
      // end gone, to end. Not tested: it needs a fault inside Node's constructor.
      feed.detach();
      closeSync(readEnd);
      child.once('error', () => undefined); // a spawn failure still to come has nothing left to tell
      child.stdin?.on('error', () => undefined);
      child.kill('SIGKILL');
      child.stdin?.destroy();
      child.stderr?.destroy();
      reject(new Error(`${what}: reading what socat gets from the pod: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    feed.attach(fromPod);
    fromPod.on('error', () => fromPod.destroy());
    // socat gone and all it wrote read: the pipe's end (or its close, when the client went first).
    const drained = new Promise<void>((res) => fromPod.once('close', () => res()));
    fromPod.once('end', () => fromPod.destroy());
    let errors = '';
    child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
    child.stdin!.on('error', () => undefined);
    stream.pipe(child.stdin!);
    // The client going away ends the connection into the pod.
    const onGone = (): void => {
      child.kill('SIGKILL');
      fromPod.destroy();
    };
    stream.once('close', onGone);
    child.once('error', (err) => {
      fromPod.destroy();
      reject(new Error(`${what}: nsenter: ${err.message}`));
    });
    child.once('close', (code) => {
      void drained.then(() => {
        feed.detach();
        stream.off('close', onGone);
        stream.unpipe(child.stdin!);
        if (code === 0 || code === null) resolve();
        else {
          const line = errors.trim().split('\n').pop() ?? '';
          reject(new Error(`${what}: failed to connect to localhost:${port} inside network namespace ${netns}: ${line.replace(/^.*socat\[\d+\] E /, '') || `socat exited ${code}`}`));
        }
      });
    });
  });
}
