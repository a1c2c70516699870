import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { NATIVE_DIR } from '../util/native.js';
import type { StdioSession, TerminalSize } from '../oci/stdio-session.js';

/**
 * Joins a container's stdio through conmon's attach socket by way of native/coracle-attach
 * (the socket is SOCK_SEQPACKET, which Node cannot open). The helper's stdout carries its
 * one JSON status line; the container's stdout and stderr come on fds 3 and 4. Its stdin is
 * always a pipe: a helper whose stdin hit EOF would close the container's stdin.
 */
export function attachRelay(socketPath: string, resize: (size: TerminalSize) => void, what: string): Promise<StdioSession> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${NATIVE_DIR}coracle-attach`, [socketPath], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] });
    let status = '';
    let errors = '';
    let answered = false;
    const done = new Promise<undefined>((res) => child.on('close', () => res(undefined)));
    child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
    child.on('error', (err) => {
      if (!answered) reject(new CoracleError('INTERNAL', `${what}: coracle-attach: ${err.message}`));
      answered = true;
    });
    child.stdout!.on('data', (c: Buffer) => (status += c.toString()));
    child.stdout!.on('end', () => {
      if (answered) return;
      answered = true;
      let doc: { attached?: boolean; error?: string } = {};
      try {
        doc = JSON.parse(status.trim() || '{}') as typeof doc;
      } catch {
        doc = { error: status.trim() };
      }
      if (!doc.attached) {
        reject(new CoracleError('FAILED_PRECONDITION', `${what}: coracle-attach: ${doc.error ?? (errors.trim() || 'no answer')}`));
        return;
      }
      const stdin = child.stdin!;
      stdin.on('error', () => undefined);
      resolve({
        stdin,
        stdout: child.stdio[3] as Readable,
        stderr: child.stdio[4] as Readable,
        resize,
        done,
        cancel: () => child.kill('SIGKILL'),
      } satisfies StdioSession & { stdin: Writable });
    });
  });
}
