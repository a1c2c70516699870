import { processStartTime } from '../util/process-start-time.js';

/**
 * Whether a pod's pause process is the one it started and still runs. A pod without one
 * (no pod-wide pid namespace) has nothing to lose. A record from before start times were
 * kept is checked by its pid alone.
 */
export async function infraAlive(pod: { infraPid?: number; infraStartTime?: string }): Promise<boolean> {
  if (pod.infraPid === undefined) return true;
  const now = await processStartTime(pod.infraPid);
  return now !== undefined && (pod.infraStartTime === undefined || now === pod.infraStartTime);
}
