/**
 * bench/pull: how fast a big multi-layer image is pulled (download, verify, unpack) over CRI
 * PullImage from a registry on loopback, by coracle and, when it is installed, by containerd
 * through the very same CRI client.
 *
 * Usage: node dist/bench/pull.js [--size-mb 200] [--layers 8] [--runs 3] [--compression gzip,zstd]
 *
 * The image is pushed twice, its layers gzip-compressed in one and zstd-compressed (level 3,
 * zstd's default) in the other; each runtime pulls both, and the coracle/containerd
 * throughput ratio of the medians is printed for each. Both daemons run side by side, and
 * the runs alternate between them (coracle, containerd, coracle, ...), as bench/critest's
 * and bench/lifecycle's do, so that a machine that speeds up or slows down over the bench
 * does so for both. The image is built in memory: each layer is a few large files of random
 * (incompressible) bytes, which show throughput, and 500 small text files, which show the
 * per-file cost of unpacking. It is pushed to a docker-registry of its
 * own; every run pulls it and then removes it, so that each pull fetches and unpacks
 * everything again. Throughput is compressed bytes / seconds, in MB/s (1 MB = 10^6 bytes);
 * beside it, the CPU time the runtime's process spent on the pull (a loaded machine inflates
 * it too, through cache and SMT contention, but less than wall time), and the most anonymous
 * memory (RssAnon) its process had while the pull ran, read every 50 ms. For the comparison:
 * `apt-get install -y containerd` (Debian's 1.6). Everything it starts is stopped and every
 * temp dir removed, whatever happens.
 *
 * Start it 6 minutes or more after anything deleted many files on the filesystem of its temp
 * dirs, another run's cleanup included: ext4 without a journal passes over the inodes freed
 * in the last 60 to 360 s at each one it allocates (util/top-dir.ts), and containerd's
 * snapshots, made near its root, land among those its previous root freed: its pulls then
 * took 3.9-4.6 s instead of 2.0-2.5 (docs/benchmarks.md, "Sixteenth pass").
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { compress as zstdCompress } from 'zstd-napi';
import { type CriClients } from '../test/helpers/cri-client.js';
import { buildImage, buildLayer, pushImage, type BuiltImage, type BuiltLayer, type LayerEntry } from '../test/helpers/images.js';
import { startTestRegistry } from '../test/helpers/test-registry.js';
import { containerdConfig, containerdTempDir, startContainerd } from './lib/containerd.js';
import { coracleConfig, startCoracleDaemon } from './lib/coracle-daemon.js';
import { Cleanups, onPath, run, sleep } from './lib/host.js';
import { optionsOrUsage, positiveInt } from './lib/options.js';
import { loadSummary, printLoad } from './lib/loadavg.js';
import { peakAnon } from './lib/memory.js';
import type { RuntimeName } from './lib/runs.js';

const BIG_FILES_PER_LAYER = 4;
const SMALL_FILES_PER_LAYER = 500;
const SMALL_DIRS_PER_LAYER = 10;
const MB = 1e6;
/** Of the labels in the printed table. */
const WIDTH = 26;
// The helper's default deadline (15 s) is for small test images, not for hundreds of MB.
const PULL_DEADLINE_MS = 10 * 60_000;
const GONE_TIMEOUT_MS = 60_000;
const REPO = 'bench/big';
const COMPRESSIONS = ['gzip', 'zstd'] as const;
type Compression = (typeof COMPRESSIONS)[number];
const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd';

interface Options {
  sizeMb: number;
  layers: number;
  runs: number;
  compressions: Compression[];
}

/** One image of the bench, as pushed: the same tars under each compression. */
interface Variant {
  compression: Compression;
  ref: string;
  image: BuiltImage;
  /** Bytes of its layer blobs. */
  compressed: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '200' },
      layers: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      compression: { type: 'string', default: COMPRESSIONS.join(',') },
    },
  });
  const compressions = [...new Set(values.compression.split(','))].map((c) => {
    if (!(COMPRESSIONS as readonly string[]).includes(c)) throw new Error(`--compression: expected ${COMPRESSIONS.join(' and/or ')}, got "${c}"`);
    return c as Compression;
  });
  return { sizeMb: positiveInt('size-mb', values['size-mb']), layers: positiveInt('layers', values.layers), runs: positiveInt('runs', values.runs), compressions };
}

const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** `layer`'s tar compressed with zstd instead: same diff_id, another blob. */
function zstdLayer(layer: BuiltLayer): BuiltLayer {
  const blob = zstdCompress(layer.tar, { compressionLevel: 3, checksumFlag: true });
  return { ...layer, blob, digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: blob.length, mediaType: ZSTD_LAYER };
}

async function buildBenchLayers(opts: Options): Promise<BuiltLayer[]> {
  const layerBytes = (opts.sizeMb * MB) / opts.layers;
  // The small files gzip to roughly 1.6 KB each with their headers; the big files make up the rest.
  const bigFileBytes = Math.max(1, Math.floor((layerBytes - SMALL_FILES_PER_LAYER * 1600) / BIG_FILES_PER_LAYER));
  const layers = [];
  for (let i = 0; i < opts.layers; i++) {
    const base = `opt/bench/layer${i}`;
    const entries: LayerEntry[] = [
      { type: 'dir', path: 'opt' },
      { type: 'dir', path: 'opt/bench' },
      { type: 'dir', path: base },
    ];
    for (let f = 0; f < BIG_FILES_PER_LAYER; f++) {
      entries.push({ type: 'file', path: `${base}/blob${f}.bin`, content: randomBytes(bigFileBytes) });
    }
    for (let d = 0; d < SMALL_DIRS_PER_LAYER; d++) entries.push({ type: 'dir', path: `${base}/d${d}` });
    for (let f = 0; f < SMALL_FILES_PER_LAYER; f++) {
      // Hex text: about as compressible as source code or config files.
      const content = randomBytes(randomInt(512, 2049)).toString('hex');
      entries.push({ type: 'file', path: `${base}/d${f % SMALL_DIRS_PER_LAYER}/file${f}.txt`, content });
    }
    layers.push(await buildLayer(entries));
  }
  return layers;
}

/** Bytes of the regular files under `dir`: what a removed image may have left behind. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0; // gone while walking (a collection in progress): nothing there
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(path);
    else if (e.isFile()) total += await lstat(path).then((s) => s.size, () => 0);
  }
  return total;
}

/** A pull's figures: wall time, CPU time of the runtime's own process, and its most anonymous memory meanwhile. */
interface Pull {
  seconds: number;
  cpu: number;
  anonMiB: number;
}

let clockTicks: number | undefined;

/**
 * User + system CPU seconds of process `pid` and its threads (coracle's unpack workers;
 * containerd's goroutines): the runtime's own cost of a pull. Neither runtime runs a child
 * process for one (containerd would run unpigz if it were on PATH; Debian does not install it).
 */
async function cpuSeconds(pid: number): Promise<number> {
  clockTicks ??= Number((await run('getconf', ['CLK_TCK'])).stdout.trim());
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime: fields 14 and 15 of proc(5), counted from the state field (3).
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/**
 * Pulls `v` once and removes it over CRI. The removal must leave `root` without the image's
 * data, or the next pull would reuse it and look faster than it is.
 */
async function pullOnce(label: string, runtime: Runtime, v: Variant): Promise<Pull> {
  const { clients, root, pid } = runtime;
  const { ref, image, compressed } = v;
  const smallestLayer = Math.min(...image.layers.map((l) => l.size));
  const leftoverLimit = Math.max(4 * MB, smallestLayer / 2);
  // Writeback of the previous run's files should not be billed to this one.
  await run('sync');
  const cpu0 = await cpuSeconds(pid);
  const t = process.hrtime.bigint();
  // Timed when the answer comes, not when the sampling has stopped.
  const pulled = clients.image.PullImage({ image: { image: ref } }, { deadline: Date.now() + PULL_DEADLINE_MS }).then((r) => ({ r, s: seconds(t) }));
  const {
    result: { r: res, s },
    peakMiB,
  } = await peakAnon(pid, pulled);
  const cpu = (await cpuSeconds(pid)) - cpu0;
  if (res.image_ref !== image.configDigest) throw new Error(`${label}: PullImage returned ${res.image_ref}, expected ${image.configDigest}`);
  console.log(`${`${label}:`.padEnd(WIDTH)}${figures(s, cpu, compressed, peakMiB)}`);

  await clients.image.RemoveImage({ image: { image: ref } });
  // containerd collects content and snapshots after RemoveImage has returned.
  const deadline = Date.now() + GONE_TIMEOUT_MS;
  for (;;) {
    const listed = (await clients.image.ListImages({})).images.some((img) => img.id === image.configDigest || img.repo_tags.includes(ref));
    const left = listed ? Infinity : await treeBytes(root);
    if (!listed && left < leftoverLimit) break;
    if (Date.now() > deadline) {
      throw new Error(`${label}: image still ${listed ? 'listed' : `on disk (${(left / MB).toFixed(1)} MB under ${root})`} ${GONE_TIMEOUT_MS / 1000} s after RemoveImage`);
    }
    await sleep(200);
  }
  await sleep(1000);
  return { seconds: s, cpu, anonMiB: peakMiB };
}

const figures = (s: number, cpu: number, compressed: number, anon: number): string =>
  `${s.toFixed(2).padStart(7)} s ${(compressed / MB / s).toFixed(1).padStart(7)} MB/s ${cpu.toFixed(2).padStart(7)} s CPU ${anon.toFixed(0).padStart(5)} MiB anon`;

/** The medians of `runs`: throughput in MB/s and CPU seconds per pull (and the peak anonymous memory's, printed). */
function printMedian(name: string, runs: Pull[], compressed: number): { rate: number; cpu: number } {
  const s = median(runs.map((r) => r.seconds));
  const cpu = median(runs.map((r) => r.cpu));
  console.log(`${`${name} median:`.padEnd(WIDTH)}${figures(s, cpu, compressed, median(runs.map((r) => r.anonMiB)))}`);
  return { rate: compressed / MB / s, cpu };
}

/** A runtime answering CRI: its clients, the dir its image data goes to, its process. */
interface Runtime {
  clients: CriClients;
  root: string;
  pid: number;
}

/** A runtime under its name in the printed lines. */
type Named = Runtime & { name: RuntimeName };

/**
 * Each variant pulled `opts.runs` times by each runtime, alternating (coracle, containerd,
 * coracle, ...), so that the machine's drift over the bench (its load, its page cache, how
 * warm its memory is) falls on both alike. Both daemons run throughout; the one not pulling
 * is idle. The medians, by runtime, then variant.
 */
async function pullAlternating(runtimes: Named[], variants: Variant[], opts: Options): Promise<Map<RuntimeName, { rate: number; cpu: number }[]>> {
  const out = new Map<RuntimeName, { rate: number; cpu: number }[]>(runtimes.map((r) => [r.name, []]));
  for (const v of variants) {
    const pulls = new Map<RuntimeName, Pull[]>(runtimes.map((r) => [r.name, []]));
    for (let i = 1; i <= opts.runs; i++) {
      for (const r of runtimes) pulls.get(r.name)!.push(await pullOnce(`${r.name} ${v.compression} run ${i}`, r, v));
    }
    for (const r of runtimes) out.get(r.name)!.push(printMedian(`${r.name} ${v.compression}`, pulls.get(r.name)!, v.compressed));
  }
  return out;
}

async function startCoracle(cleanups: Cleanups, registry: { host: string; url: string }): Promise<Named> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-bench-pull-'));
  cleanups.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'cni', 'net.d'), { recursive: true });
  // The host's CNI setup is none of this bench's business.
  const { config, root, socket } = await coracleConfig(dir, { cniBinDirs: [join(dir, 'cni', 'bin')], registries: { [registry.host]: registry.url } });
  const { clients, proc } = await startCoracleDaemon(cleanups, config, socket);
  return { name: 'coracle', clients, root, pid: proc.pid! };
}

async function startContainerdDaemon(cleanups: Cleanups, registry: { host: string }): Promise<Named> {
  const dir = await containerdTempDir(cleanups, 'coracle-bench-containerd-');
  await mkdir(join(dir, 'cni', 'net.d'), { recursive: true });
  const { clients, proc } = await startContainerd(cleanups, dir, containerdConfig(dir, { registryHost: registry.host }));
  return { name: 'containerd', clients, root: join(dir, 'root'), pid: proc.pid! };
}

async function main(): Promise<void> {
  const opts = optionsOrUsage(options, 'node dist/bench/pull.js [--size-mb 200] [--layers 8] [--runs 3] [--compression gzip,zstd]');
  if (!opts) return;
  const cleanups = new Cleanups();
  let failed = false;
  const stopOnSignal = (): void => {
    // The work in flight may wait long before it fails and reaches the finally: clean up now.
    console.error('interrupted: cleaning up');
    void cleanups.runAll().then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    let t = process.hrtime.bigint();
    const gzipLayers = await buildBenchLayers(opts);
    const layersOf = { gzip: gzipLayers, zstd: opts.compressions.includes('zstd') ? gzipLayers.map(zstdLayer) : [] };
    const built = seconds(t);
    const uncompressed = gzipLayers.reduce((n, l) => n + l.tar.length, 0);
    const files = opts.layers * (BIG_FILES_PER_LAYER + SMALL_FILES_PER_LAYER);

    const registry = await startTestRegistry({ scope: 'suite' });
    cleanups.add('stop registry', () => registry.stop());
    const variants: Variant[] = [];
    for (const compression of opts.compressions) {
      const layers = layersOf[compression];
      // A label tells the two images apart: their diff_ids, and so their snapshots, are the same.
      const image = buildImage({ layers, config: { Cmd: ['/bin/true'], Labels: { compression } } });
      const ref = `${registry.host}/${REPO}:${compression}`;
      const compressed = layers.reduce((n, l) => n + l.size, 0);
      t = process.hrtime.bigint();
      await pushImage(registry.url, REPO, image, [compression]);
      console.log(
        `image ${ref}: ${opts.layers} ${compression} layers, ${(compressed / MB).toFixed(1)} MB compressed, ${(uncompressed / MB).toFixed(1)} MB uncompressed, ` +
          `${files} files; pushed in ${seconds(t).toFixed(1)} s`,
      );
      variants.push({ compression, ref, image, compressed });
    }
    console.log(`layers built in ${built.toFixed(1)} s`);
    // The layers are in the registry now; only sizes and digests are needed from here on.
    for (const l of [...layersOf.gzip, ...layersOf.zstd]) l.tar = l.blob = Buffer.alloc(0);

    const runtimes = [await startCoracle(cleanups, registry)];
    if (await onPath('containerd')) runtimes.push(await startContainerdDaemon(cleanups, registry));
    else console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
    await printLoad('at the start');
    const medians = await pullAlternating(runtimes, variants, opts);
    await printLoad('at the end');
    const coracle = medians.get('coracle')!;
    const containerd = medians.get('containerd');
    variants.forEach((v, i) => {
      const c = coracle[i]!;
      const k = containerd?.[i];
      if (!k) return;
      console.log(
        `${v.compression}: coracle ${c.rate.toFixed(1)} MB/s, containerd ${k.rate.toFixed(1)} MB/s, coracle/containerd throughput: ${(c.rate / k.rate).toFixed(2)}; ` +
          `CPU per pull ${c.cpu.toFixed(2)} s against ${k.cpu.toFixed(2)} s (${(c.cpu / k.cpu).toFixed(2)})`,
      );
    });
    console.log(loadSummary());
  } catch (err) {
    failed = true;
    console.error(err);
  } finally {
    const failures = await cleanups.runAll();
    for (const f of failures) console.error(`cleanup: ${f}`);
    if (failures.length > 0) failed = true;
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
