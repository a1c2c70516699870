import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { StdioSession, TerminalSize } from '../oci/stdio-session.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';

/** How long a terminal session waits for the client's first size before it starts. */
const FIRST_SIZE_WAIT_MS = 1000;

/** What exec and attach asked for, as the CRI request said it. */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** How a command ended, as the client is told on the error channel. */
export type Outcome = { kind: 'exited'; exitCode: number; command: string[] } | { kind: 'detached' } | { kind: 'failed'; message: string };

/** The client side of one exec or attach, whatever the transport (SPDY or websocket). */
export interface ClientStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: Readable;
  /** Tells the client the outcome and closes the connection. */
  finish(outcome: Outcome): Promise<void>;
  /** Resolves when the client went away before `finish`. */
  gone: Promise<void>;
}

/**
 * The error channel's contents. v4 and later carry a metav1.Status as JSON, always; older
 * versions carry the failure message as text and nothing on success (kubelet's
 * remotecommand server, which containerd and CRI-O embed).
 */
export function statusPayload(outcome: Outcome, v4: boolean): Buffer | undefined {
  if (!v4) {
    if (outcome.kind === 'detached' || (outcome.kind === 'exited' && outcome.exitCode === 0)) return undefined;
    return Buffer.from(statusObject(outcome).message as string);
  }
  return Buffer.from(JSON.stringify(statusObject(outcome)));
}

function statusObject(outcome: Outcome): Record<string, unknown> {
  if (outcome.kind === 'detached' || (outcome.kind === 'exited' && outcome.exitCode === 0)) return { metadata: {}, status: 'Success' };
  if (outcome.kind === 'exited') {
    return {
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command [${outcome.command.join(' ')}], exit code ${outcome.exitCode}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
    };
  }
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${outcome.message}`,
    reason: 'InternalError',
    details: { causes: [{ message: outcome.message }] },
    code: 500,
  };
}

/**
 * Reads terminal sizes from the resize channel: JSON objects back to back, as Go's
 * json.Encoder writes them (`{"Width":80,"Height":24}\n`). Go matches field names without
 * regard to case, so this does too.
 */
export function onResize(stream: Readable, apply: (size: TerminalSize) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    for (;;) {
      const end = pending.indexOf('}');
      if (end < 0) break;
      const text = pending.slice(pending.indexOf('{'), end + 1);
      pending = pending.slice(end + 1);
      try {
        const doc = JSON.parse(text) as Record<string, unknown>;
        const field = (name: string): number => Number(Object.entries(doc).find(([k]) => k.toLowerCase() === name)?.[1] ?? 0);
        apply({ width: field('width'), height: field('height') });
      } catch {
        // A malformed size is dropped, as kubelet drops it; the next one may be fine.
      }
    }
    if (pending.length > 4096) pending = '';
  });
}

/**
 * Wires a client to a process's stdio and reports how it ended. The outcome is sent only
 * after every byte of output has been written: the client reads its outputs to their end
 * before it looks at the error channel.
 */
export async function serveStdio(client: ClientStreams, start: (size?: TerminalSize) => Promise<StdioSession>, command: string[], log: Logger, tty = false): Promise<void> {
  let session: StdioSession | undefined;
  let size: TerminalSize | undefined;
  let gone = false;
  void client.gone.then(() => {
    gone = true;
    session?.cancel();
  });
  if (client.resize) {
    const resize = client.resize;
    // With a terminal, the process starts at the client's size: the first size is waited for
    // (clients send it as soon as the streams are up), so that a command that reads its
    // terminal size at once (stty size) does not see a console not sized yet.
    await new Promise<void>((resolve) => {
      const timer = tty ? setTimeout(resolve, FIRST_SIZE_WAIT_MS) : undefined;
      if (!tty) resolve();
      void client.gone.then(resolve);
      onResize(resize, (s) => {
        size = s;
        clearTimeout(timer);
        resolve();
        session?.resize(s);
      });
    });
  }
  // A client gone while its size was awaited gets no process started.
  if (gone) return;
  try {
    session = await start(size);
    if (gone) session.cancel();
    // Attach takes its size here; an exec started at it takes it again, to no effect; a size
    // that came while the process started is caught up.
    if (size) session.resize(size);
  } catch (err) {
    log.info('stream: could not start', { error: messageOf(err) });
    await client.finish({ kind: 'failed', message: messageOf(err) });
    return;
  }
  const live = session;
  if (client.stdin && live.stdin) {
    client.stdin.pipe(live.stdin);
    // Detach once what the client sent has reached the process.
    const input = live.stdin;
    if (live.detachOnStdinEnd) client.stdin.once('end', () => void finished(input).catch(() => undefined).then(() => live.cancel()));
  } else client.stdin?.resume();
  const outputs = [pipeOutput(live.stdout, client.stdout), pipeOutput(live.stderr, client.stderr)];
  let outcome: Outcome;
  try {
    const code = await live.done;
    await Promise.all(outputs);
    outcome = code === undefined ? { kind: 'detached' } : { kind: 'exited', exitCode: code, command };
  } catch (err) {
    outcome = { kind: 'failed', message: messageOf(err) };
  }
  if (!gone) await client.finish(outcome);
}

/** Copies one output to the client to its end; output nobody asked for is drained. */
async function pipeOutput(from: Readable | undefined, to: Writable | undefined): Promise<void> {
  if (!from) return;
  if (!to) {
    from.resume();
    await finished(from).catch(() => undefined);
    return;
  }
  from.pipe(to);
  await finished(to, { readable: false }).catch(() => undefined);
}
