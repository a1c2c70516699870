import type { Readable, Writable } from 'node:stream';
import type { ExecOverrides } from './exec-overrides.js';

export interface TerminalSize {
  width: number;
  height: number;
}

/** An exec with its stdio live: with a terminal, `size` is the client's to start at. */
export interface ExecStreamOptions {
  tty: boolean;
  stdin: boolean;
  size?: TerminalSize;
  /** docker exec's -e, -u, -w. */
  overrides?: ExecOverrides;
}

/**
 * A live connection to a process's stdio: a command exec'd in a container, or the
 * container's own process through its monitor. The streaming server wires it to a client.
 */
export interface StdioSession {
  /** Present when stdin was asked for; ending it closes the process's stdin. */
  stdin?: Writable;
  stdout: Readable;
  /** Absent with a terminal: a tty has one output. */
  stderr?: Readable;
  resize(size: TerminalSize): void;
  /** The exit code of an exec'd command; undefined when an attach ends (the container went on or ended). */
  done: Promise<number | undefined>;
  /** An attach ends when the client's stdin does. */
  detachOnStdinEnd?: boolean;
  /** The client is gone: an exec'd command is killed, an attach lets go of the container. */
  cancel(): void;
}
