import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Connects `stream` to 127.0.0.1:`port` in a network namespace and copies both ways until
 * either side ends. Node never enters a namespace itself (its threads would not all
 * follow), so inside a pod's namespace the connection is made by `nsenter --net` running
 * socat, as dockershim did; in the host's namespace Node connects directly.
 */
export function forwardPort(netns: string | undefined, port: number, stream: Duplex, what: string): Promise<void> {
  // A client stream already gone has nothing to forward (and would never say 'close' again).
  if (stream.destroyed) return Promise.resolve();
  return netns ? forwardWithSocat(netns, port, stream, what) : forwardDirect(port, stream, what);
}

function forwardDirect(port: number, stream: Duplex, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      stream.unpipe(socket);
      socket.destroy();
      if (err) reject(new Error(`${what}: failed to connect to localhost:${port} in the host's network namespace: ${err.message}`));
      else resolve();
    };
    socket.once('connect', () => {
      stream.pipe(socket);
      socket.pipe(stream, { end: false });
    });
    socket.once('error', (err) => settle(err));
    socket.once('end', () => settle());
    stream.once('end', () => socket.end());
    stream.once('close', () => settle());
  });
}

function forwardWithSocat(netns: string, port: number, stream: Duplex, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netns}`, 'socat', '-', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
    child.stdin.on('error', () => undefined);
    stream.pipe(child.stdin);
    child.stdout.pipe(stream, { end: false });
    // The client going away ends the connection into the pod.
    const onGone = (): void => {
      child.kill('SIGKILL');
    };
    stream.once('close', onGone);
    child.once('error', (err) => reject(new Error(`${what}: nsenter: ${err.message}`)));
    child.once('close', (code) => {
      stream.off('close', onGone);
      stream.unpipe(child.stdin);
      if (code === 0 || code === null) resolve();
      else {
        const line = errors.trim().split('\n').pop() ?? '';
        reject(new Error(`${what}: failed to connect to localhost:${port} inside network namespace ${netns}: ${line.replace(/^.*socat\[\d+\] E /, '') || `socat exited ${code}`}`));
      }
    });
  });
}
