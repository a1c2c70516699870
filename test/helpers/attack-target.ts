import assert from 'node:assert/strict';
import { busyboxPod, type BusyboxPod } from './busybox-pod.js';
import type { BusyboxRegistry } from './busybox-registry.js';
import type { TestConfigOptions } from './daemon.js';
import { liveExec, type LiveExec } from './stream-attacks.js';

/**
 * What a streaming attack runs against: a busybox pod with a container `victim` sleeping in
 * it. An exec session into the victim, opened before an attack, must still work after it.
 */
export interface AttackTarget extends BusyboxPod {
  victim: string;
  /** An Exec URL for `cmd` in the victim, with stdout and stderr. */
  execUrl(cmd: string[], stdin?: boolean): Promise<string>;
  /** A live `cat` session in the victim. */
  catSession(): Promise<LiveExec>;
  /** The daemon is up and serving, and `live` (made before the attack) still echoes. */
  assertUnharmed(live: LiveExec, tag: string): Promise<void>;
}

async function attackTarget(fixture: BusyboxRegistry, podName: string, opts: TestConfigOptions = {}): Promise<AttackTarget> {
  const p = await busyboxPod(fixture, podName, opts);
  const { d } = p;
  const victim = await p.start('victim', ['sleep', '3600']);
  const execUrl = async (cmd: string[], stdin = false): Promise<string> => (await d.clients.runtime.Exec({ container_id: victim, cmd, stdin, stdout: true, stderr: true })).url;
  return {
    ...p,
    victim,
    execUrl,
    catSession: async () => liveExec(await execUrl(['cat'], true)),
    async assertUnharmed(live, tag) {
      assert.equal(d.proc.exitCode, null, `the daemon is alive:\n${d.lines.slice(-20).join('\n')}`);
      assert.equal(d.proc.signalCode, null);
      await d.clients.runtime.Version({});
      await live.echo(`still-here-${tag}`);
    },
  };
}

/**
 * Call inside `describe`: before each test, a fresh attackTarget; the object's fields are the
 * current test's from its first line on.
 */
export function attackTargetEach(fixture: BusyboxRegistry, podName: string, opts: TestConfigOptions = {}): AttackTarget {
  const target = {} as AttackTarget;
  beforeEach(async () => {
    Object.assign(target, await attackTarget(fixture, podName, opts));
  });
  return target;
}
