/**
 * bench/daemon: start time, idle RSS and Version round-trip latency of the daemon.
 * Usage: node dist/bench/daemon.js [calls]
 * Starts a daemon on a temp root and socket of its own, prints figures, removes everything.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { criClients } from '../test/helpers/cri-client.js';

const calls = Number(process.argv[2] ?? 2000);
const bin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-bench-'));
  const socket = join(dir, 'run', 'coracle.sock');
  await writeFile(
    join(dir, 'c.toml'),
    // A CNI conf dir of its own: the host's is never read.
    `root = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\nsocket = "${socket}"\n[log]\nlevel = "warn"\n[cni]\nconf_dir = "${dir}/net.d"\n`,
  );
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, [bin, '--config', join(dir, 'c.toml'), 'serve', '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    let log = '';
    await new Promise<void>((resolve, reject) => {
      proc.stderr.setEncoding('utf8').on('data', (c: string) => {
        log += c;
        if (log.includes('"coracle serving"')) resolve();
      });
      proc.once('exit', () => reject(new Error(`daemon exited:\n${log}`)));
    });
    const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const clients = criClients(socket);
    await clients.runtime.Version({});
    const startToFirstCallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = await rssKiB(proc.pid!);

    const lat: number[] = [];
    for (let i = 0; i < calls; i++) {
      const s = process.hrtime.bigint();
      await clients.runtime.Version({});
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    lat.sort((a, b) => a - b);
    const statusLat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s = process.hrtime.bigint();
      await clients.runtime.Status({ verbose: false });
      statusLat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    statusLat.sort((a, b) => a - b);
    const afterRss = await rssKiB(proc.pid!);
    clients.close();
    const fmt = (n: number): string => n.toFixed(3);
    console.log(`daemon start (spawn to serving):   ${startMs.toFixed(0)} ms`);
    console.log(`daemon start to first Version:     ${startToFirstCallMs.toFixed(0)} ms`);
    console.log(`RSS at idle:                       ${(idleRss / 1024).toFixed(1)} MiB`);
    console.log(`RSS after ${calls} calls:             ${(afterRss / 1024).toFixed(1)} MiB`);
    console.log(`Version round-trip (${calls} calls):  p50 ${fmt(percentile(lat, 50))} ms  p95 ${fmt(percentile(lat, 95))} ms  p99 ${fmt(percentile(lat, 99))} ms`);
    console.log(`Status round-trip (200 calls):     p50 ${fmt(percentile(statusLat, 50))} ms  p95 ${fmt(percentile(statusLat, 95))} ms`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
