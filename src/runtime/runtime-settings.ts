import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, isErrno } from '../errors.js';
import { parseCidr } from '../util/cidr.js';
import { writeFileDurable } from '../util/atomic-write.js';

/**
 * What kubelet tells the runtime through UpdateRuntimeConfig: the node's pod CIDR(s). Kept
 * under the state dir: kubelet sends it again after a reboot, so it need not be durable.
 */
export class RuntimeSettings {
  private podCidrs: string[] = [];
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'runtime-config.json');
  }

  async load(): Promise<void> {
    try {
      const doc = JSON.parse(await readFile(this.file, 'utf8')) as { podCidrs?: unknown };
      if (Array.isArray(doc.podCidrs)) this.podCidrs = doc.podCidrs.filter((c) => typeof c === 'string');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  get podCidr(): readonly string[] {
    return this.podCidrs;
  }

  /** `text` is kubelet's form: empty, one CIDR, or a comma-separated dual-stack pair. */
  async setPodCidr(text: string): Promise<{ changed: boolean }> {
    const cidrs = text.split(',').map((c) => c.trim()).filter(Boolean);
    for (const c of cidrs) {
      const parsed = parseCidr(c);
      if (typeof parsed === 'string') throw invalidArgument(`pod CIDR: ${parsed}`);
    }
    if (cidrs.join(',') === this.podCidrs.join(',')) return { changed: false };
    // Durable: the pod CIDR kubelet gave is config, not state of a process, and must survive
    // a power loss. Off the pod path (kubelet sends it once, when it changes).
    await writeFileDurable(this.file, JSON.stringify({ podCidrs: cidrs }) + '\n');
    this.podCidrs = cidrs;
    return { changed: true };
  }
}
