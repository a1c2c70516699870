/**
 * bench/unpack: what unpacking a layer of many small files costs, in this build and, given
 * one, in another built checkout, without a download or a daemon around it.
 *
 * Usage: node dist/bench/unpack.js [--base DIR] [--files 2000] [--unpacks 40] [--runs 3]
 *   --base  another checkout built with `npm run build` (a worktree of an earlier commit).
 *
 * The layer (gzip, `--files` files of 0.5 to 2 KiB of text in 10 directories, as bench/pull's
 * small files) is built once and unpacked `--unpacks` times by a child node per run and
 * build, with the daemon's V8 flags and environment (util/reexec.ts, util/optimizer-gate.ts), the runs alternating
 * between the builds; each child prints the medians of its unpacks' CPU (user, system) and
 * wall time, the first two left out (the code not yet optimized). The unpacks go to tmpfs
 * (/dev/shm): ext4 without a journal would add its scan past recently freed inodes, which
 * bench/pull's docs describe, to every unpack after the first.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { optimizeFromNowOn } from '../src/util/optimizer-gate.js';
import { DAEMON_ENV, DAEMON_V8_FLAGS } from '../src/util/reexec.js';
import { buildLayer, type LayerEntry } from '../test/helpers/images.js';
import { loadSummary, printLoad } from './lib/loadavg.js';
import { optionsOrUsage, positiveInt } from './lib/options.js';

const USAGE = 'node dist/bench/unpack.js [--base DIR] [--files 2000] [--unpacks 40] [--runs 3]';
const here = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface Medians {
  user: number;
  sys: number;
  wall: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** In a child: `unpacks` unpacks of `blob` by the checkout at `checkout`, under `dir`. */
async function child(checkout: string, blob: string, dir: string, unpacks: number): Promise<void> {
  // As the daemon does once it serves (its flags start it without the optimizing compiler).
  optimizeFromNowOn();
  const mod = (await import(pathToFileURL(join(checkout, 'dist/src/image/unpack.js')).href)) as typeof import('../src/image/unpack.js');
  const runs: Medians[] = [];
  for (let i = 0; i < unpacks; i++) {
    const target = join(dir, `t${i}`);
    await mkdir(target);
    const cpu = process.cpuUsage();
    const t = performance.now();
    await mod.unpackLayer({ blob, target, parents: [], lowerComplete: true });
    const used = process.cpuUsage(cpu);
    runs.push({ user: used.user / 1000, sys: used.system / 1000, wall: performance.now() - t });
    await rm(target, { recursive: true });
  }
  const kept = runs.slice(2);
  console.log(JSON.stringify({ user: median(kept.map((r) => r.user)), sys: median(kept.map((r) => r.sys)), wall: median(kept.map((r) => r.wall)) }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, files: { type: 'string', default: '2000' }, unpacks: { type: 'string', default: '40' }, runs: { type: 'string', default: '3' }, child: { type: 'string' }, blob: { type: 'string' }, dir: { type: 'string' } } });
  if (values.child) return child(values.child, values.blob!, values.dir!, Number(values.unpacks));
  const opts = optionsOrUsage(() => ({ files: positiveInt('files', values.files), unpacks: Math.max(3, positiveInt('unpacks', values.unpacks)), runs: positiveInt('runs', values.runs) }), USAGE);
  if (!opts) return;
  const builds = [{ name: 'this build', dir: here }, ...(values.base ? [{ name: 'base', dir: resolve(values.base) }] : [])];
  const work = await mkdtemp('/dev/shm/coracle-bench-unpack-');
  try {
    const entries: LayerEntry[] = [{ type: 'dir', path: 'opt' }];
    for (let d = 0; d < 10; d++) entries.push({ type: 'dir', path: `opt/d${d}` });
    for (let f = 0; f < opts.files; f++) entries.push({ type: 'file', path: `opt/d${f % 10}/file${f}.txt`, content: randomBytes(randomInt(256, 1025)).toString('hex') });
    const blob = join(work, 'blob');
    await writeFile(blob, (await buildLayer(entries)).blob);
    await printLoad('at the start');
    const results = new Map<string, Medians[]>(builds.map((b) => [b.name, []]));
    for (let run = 0; run < opts.runs; run++) {
      for (const b of builds) {
        const dir = await mkdtemp(join(work, 'run-'));
        const out = spawnSync(process.execPath, [...DAEMON_V8_FLAGS, fileURLToPath(import.meta.url), '--child', b.dir, '--blob', blob, '--dir', dir, '--unpacks', String(opts.unpacks)], { env: { ...process.env, ...DAEMON_ENV }, encoding: 'utf8' });
        if (out.status !== 0) throw new Error(`${b.name}: unpack child failed: ${out.stderr}`);
        const m = JSON.parse(out.stdout) as Medians;
        results.get(b.name)!.push(m);
        console.log(`${b.name.padEnd(10)} run ${run + 1}: user ${m.user.toFixed(1)} ms, system ${m.sys.toFixed(1)} ms, wall ${m.wall.toFixed(1)} ms per unpack of ${opts.files} files`);
        await rm(dir, { recursive: true, force: true });
      }
    }
    for (const [name, ms] of results) {
      console.log(`${name.padEnd(10)} median: user ${median(ms.map((m) => m.user)).toFixed(1)} ms, system ${median(ms.map((m) => m.sys)).toFixed(1)} ms, wall ${median(ms.map((m) => m.wall)).toFixed(1)} ms`);
    }
    await printLoad('at the end');
    console.log(loadSummary());
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
