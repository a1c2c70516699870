/**
 * bench/authority: a Version call's cost in this build against another, and with kubelet 1.26's
 * socket-path :authority. Usage: node dist/bench/authority.js [BASE_DIR] [pairs]
 *   BASE_DIR  another built checkout (e.g. a worktree of an earlier commit, after npm run
 *             build) to compare with; without it, this build alone, two daemons.
 * Two daemons run side by side on temp roots and calls alternate between them, so that the
 * machine's drift falls on both; printed: p50 of each and their ratio, for a client sending
 * `localhost` (crictl, critest) and for one sending the socket path (kubelet 1.26) to this build.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCriProto } from '../src/cri/proto-clients.js';
import { percentile } from './lib/timings.js';

const here = fileURLToPath(new URL('..', import.meta.url));
const base = process.argv[2] ?? here;
const pairs = Number(process.argv[3] ?? 4000);

interface Daemon {
  proc: ChildProcess;
  dir: string;
  socket: string;
}

async function start(buildDir: string): Promise<Daemon> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-bench-'));
  const socket = join(dir, 'run', 'coracle.sock');
  await writeFile(join(dir, 'c.toml'), `root = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\nsocket = "${socket}"\n[log]\nlevel = "warn"\n[cni]\nconf_dir = "${dir}/net.d"\n`);
  const proc = spawn(process.execPath, [join(buildDir, 'src/cli/main.js'), '--config', join(dir, 'c.toml'), 'serve', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
      log += c;
      if (log.includes('"coracle serving"')) resolve();
    });
    proc.once('exit', () => reject(new Error(`daemon in ${buildDir} exited:\n${log}`)));
  });
  return { proc, dir, socket };
}

function versionCaller(socket: string, authority?: string): { call: () => Promise<void>; close: () => void } {
  const client = new (loadCriProto().runtime.v1.RuntimeService)(`unix:${socket}`, grpc.credentials.createInsecure(), authority ? { 'grpc.default_authority': authority } : {});
  return {
    call: () => new Promise((resolve, reject) => client.Version({}, (err: grpc.ServiceError | null) => (err ? reject(err) : resolve()))),
    close: () => client.close(),
  };
}

/** p50 in µs of `a` and `b`, called in turn (each goes first half the time). */
async function alternate(a: () => Promise<void>, b: () => Promise<void>): Promise<[number, number]> {
  for (let i = 0; i < 500; i++) await Promise.all([a(), b()]);
  const ta: number[] = [];
  const tb: number[] = [];
  const timed = async (f: () => Promise<void>, into: number[]): Promise<void> => {
    const s = process.hrtime.bigint();
    await f();
    into.push(Number(process.hrtime.bigint() - s) / 1e3);
  };
  for (let i = 0; i < pairs; i++) {
    if (i % 2) await timed(a, ta).then(() => timed(b, tb));
    else await timed(b, tb).then(() => timed(a, ta));
  }
  return [percentile(ta, 50), percentile(tb, 50)];
}

async function main(): Promise<void> {
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${pairs} alternating pairs; base ${base === here ? 'this build' : base}`);
  const [old, cur] = [await start(join(base, base === here ? '' : 'dist')), await start(here)];
  const clients = [versionCaller(old.socket), versionCaller(cur.socket), versionCaller(cur.socket, cur.socket)];
  try {
    const [o1, n1] = await alternate(clients[0]!.call, clients[1]!.call);
    console.log(`Version p50, authority localhost:   base ${o1.toFixed(1)} µs, this build ${n1.toFixed(1)} µs, ratio ${(n1 / o1).toFixed(3)}`);
    const [o2, n2] = await alternate(clients[0]!.call, clients[2]!.call);
    console.log(`Version p50, socket path authority: base ${o2.toFixed(1)} µs (localhost), this build ${n2.toFixed(1)} µs, ratio ${(n2 / o2).toFixed(3)}`);
  } finally {
    for (const c of clients) c.close();
    for (const d of [old, cur]) {
      d.proc.kill('SIGTERM');
      await new Promise((r) => d.proc.once('exit', r));
      await rm(d.dir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
