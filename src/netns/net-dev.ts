import { readKernelFile } from '../util/kernel-file.js';

export interface InterfaceUsage {
  name: string;
  rxBytes: bigint;
  rxErrors: bigint;
  txBytes: bigint;
  txErrors: bigint;
}

/**
 * Counters of every interface of the network namespace `pid` lives in: /proc/PID/net/dev
 * is that namespace's view, which spares entering it. Loopback is left out, as kubelet does.
 */
export async function interfaceUsage(pid: number): Promise<InterfaceUsage[]> {
  const text = await readKernelFile(`/proc/${pid}/net/dev`);
  const out: InterfaceUsage[] = [];
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    // The four counters kept, of sixteen: a stats call of 100 pods reads 100 of these files.
    const f = m[2]!.trim().split(/\s+/);
    out.push({ name: m[1]!, rxBytes: BigInt(f[0]!), rxErrors: BigInt(f[2]!), txBytes: BigInt(f[8]!), txErrors: BigInt(f[10]!) });
  }
  return out;
}
