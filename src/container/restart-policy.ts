import { invalidArgument } from '../errors.js';

/**
 * docker's restart policies, for the containers `coracle run` makes: the CLI records the
 * policy on the container as an annotation, and the daemon's watcher of CLI containers
 * (daemon/cli-container-watcher.ts) honours it. Kubelet's containers carry none: kubelet
 * restarts its own.
 */
export type RestartPolicy = { kind: 'no' } | { kind: 'always' } | { kind: 'on-failure'; maxRetries: number };

/** The annotation the policy is recorded in, as docker writes it (`on-failure:3`). */
export const RESTART_POLICY_ANNOTATION = 'io.coracle.cli.restart';
/** The annotation that asks the daemon to remove the container and its pod once it exits (run -d --rm). */
export const AUTO_REMOVE_ANNOTATION = 'io.coracle.cli.auto-remove';

/** docker's --restart values: no, always, on-failure[:max retries] (0: no limit). */
export function parseRestartPolicy(text: string): RestartPolicy {
  if (text === 'no' || text === '') return { kind: 'no' };
  if (text === 'always') return { kind: 'always' };
  const m = /^on-failure(?::(\d{1,9}))?$/.exec(text);
  if (m) return { kind: 'on-failure', maxRetries: m[1] === undefined ? 0 : Number(m[1]) };
  throw invalidArgument(`invalid restart policy "${text}": expected no, always or on-failure[:max-retries]`);
}

export function formatRestartPolicy(p: RestartPolicy): string {
  return p.kind === 'on-failure' && p.maxRetries > 0 ? `on-failure:${p.maxRetries}` : p.kind;
}

/** Whether a container that exited with `exitCode`, restarted `restarts` times already, is due another start. */
export function restartDue(p: RestartPolicy, exitCode: number, restarts: number): boolean {
  if (p.kind === 'always') return true;
  if (p.kind === 'on-failure') return exitCode !== 0 && (p.maxRetries === 0 || restarts < p.maxRetries);
  return false;
}

/** docker's backoff: 100 ms, doubled at each restart, back to 100 ms after 10 s up; at most a minute. */
export const BACKOFF_START_MS = 100;
export const BACKOFF_RESET_UP_MS = 10_000;
export const BACKOFF_MAX_MS = 60_000;

export function nextDelay(previousMs: number, upMs: number): number {
  if (previousMs === 0 || upMs >= BACKOFF_RESET_UP_MS) return BACKOFF_START_MS;
  return Math.min(BACKOFF_MAX_MS, previousMs * 2);
}
