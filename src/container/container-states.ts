import type { ContainerRecord } from './container-store.js';

/*
 * The rules a container's state decides, named, as pure functions of its record: CREATING
 * (a create in flight), CREATED (a root, a bundle and a record, no process), RUNNING (its
 * process started; its exit maybe not read yet), EXITED (its exit recorded).
 */

type Stated = Pick<ContainerRecord, 'state'>;

/** A create in flight (or, at start-up, one a killed daemon left half made). */
export function inCreation(c: Stated): boolean {
  return c.state === 'CREATING';
}

/** There for callers: one still being made is not there yet (containerd's answer), its create completes or undoes. */
export function isListed(c: Stated): boolean {
  return !inCreation(c);
}

/** A CreateContainer retry of the same name gets the container's id while it has not started. */
export function answersCreateRetry(c: Stated): boolean {
  return c.state === 'CREATED';
}

/** Only a created container starts; a stop of one finds no process to signal. */
export function canStart(c: Stated): boolean {
  return c.state === 'CREATED';
}

/** An exited container can run again from its bundle (docker start); a created one is started instead. */
export function canRestart(c: Stated): boolean {
  return c.state === 'EXITED';
}

/** A running process: what exec, attach, top, checkpoint, reopen log and the stop signal need. */
export function isRunning(c: Stated): boolean {
  return c.state === 'RUNNING';
}

/**
 * Only a RUNNING record can have exited unrecorded: a created one has no process, an exited
 * one has its exit recorded. Exits are looked for (exit files read, waiters woken) only there.
 */
export function mayHaveExited(c: Stated): boolean {
  return c.state === 'RUNNING';
}

/** Created or running: not ended, so removal stops it first (an exited one is only released). */
export function needsStop(c: Stated): boolean {
  return c.state === 'RUNNING' || c.state === 'CREATED';
}

/** New limits go to a running container's runtime, or into a created one's bundle; none to an exited one. */
export function canUpdateResources(c: Stated): boolean {
  return c.state === 'RUNNING' || c.state === 'CREATED';
}

/**
 * Created with no init pid recorded: a start a previous daemon did not finish may have left a
 * runtime container and its monitor (deleted at start-up, so that the next start makes them anew).
 */
export function unstarted(c: Pick<ContainerRecord, 'state' | 'pid'>): boolean {
  return c.state === 'CREATED' && c.pid === undefined;
}
