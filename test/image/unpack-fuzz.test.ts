import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { unpackLayer } from '../../src/image/unpack.js';
import { setOpenat2 } from '../../src/util/in-root.js';
import { tempDir } from '../helpers/daemon.js';
import { openFds } from '../helpers/deep-tree.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';
import { diff, linksOut, makeDecoy, snapshot } from '../helpers/sentinel.js';

/**
 * Property-based hostile layers against the real unpacker: stacks of layers made of entries
 * over a small alphabet of names, with symlinks out of the root (at a decoy dir next to it,
 * at /etc, at /, relative climbs, chains and loops), hardlinks (to files, symlinks, lower
 * layers, out), whiteouts, opaque markers, devices. Whatever a layer does, succeed or fail,
 * nothing outside its target may be created, changed or touched, and no file in it may be a
 * hardlink to anything outside. CORACLE_FUZZ_RUNS and CORACLE_FUZZ_SECONDS bound a run.
 */
const RUNS = Number(process.env['CORACLE_FUZZ_RUNS'] ?? 1000);
const SECONDS = Number(process.env['CORACLE_FUZZ_SECONDS'] ?? 60);
const NAMES = ['a', 'b', 'c'];

/** Symlink targets; DECOY is the decoy dir's absolute path. */
const TARGETS = ['DECOY', 'DECOY/sub', 'DECOY/file', 'DECOY/etc/cron.d/x', '/etc', '/etc/cron.d', '/', '..', '../..', '../../../../../..DECOY', 'a', 'b/c', '/a/b', 'a/../..', 'c/../../b', '.', 'b'];

const name = fc.constantFrom(...NAMES);
const path = fc.oneof(
  { weight: 16, arbitrary: fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/', './', 'a/../', 'b/./'), fc.array(name, { minLength: 1, maxLength: 2 })).map(([pre, p]) => pre + p.join('/')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('../', 'a/../../'), name).map(([pre, p]) => pre + p) },
);

type Gen = { kind: 'file'; path: string; mode: number } | { kind: 'dir'; path: string } | { kind: 'symlink'; path: string; target: string } | { kind: 'hardlink'; path: string; target: string; earlier: number | null } | { kind: 'whiteout' | 'opaque' | 'fifo' | 'char'; path: string };

const entry: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('file' as const), path, mode: fc.constantFrom(0o644, 0o4755, 0o600, 0o2711) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('dir' as const), path }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('symlink' as const), path, target: fc.constantFrom(...TARGETS) }) },
  // Mostly to a name an earlier entry (of this layer or a lower one) made, else anywhere.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hardlink' as const), path, target: path, earlier: fc.option(fc.nat(), { freq: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('whiteout' as const, 'opaque' as const, 'fifo' as const, 'char' as const), path }) },
);

const layers = fc.array(fc.array(entry, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 });

function toEntry(g: Gen, decoy: string, earlier: string[]): LayerEntry {
  switch (g.kind) {
    case 'file':
      return { type: 'file', path: g.path, content: `content of ${g.path}\n`, mode: g.mode };
    case 'dir':
      return { type: 'dir', path: g.path, mode: 0o755 };
    case 'symlink':
      return { type: 'symlink', path: g.path, target: g.target.replace('DECOY', decoy) };
    case 'hardlink':
      return { type: 'hardlink', path: g.path, target: g.earlier !== null && earlier.length > 0 ? earlier[g.earlier % earlier.length]! : g.target };
    case 'char':
      return { type: 'char', path: g.path, major: 1, minor: 3 };
    default:
      return { type: g.kind, path: g.path };
  }
}

/** The host paths a layer aimed at /etc or / would reach first. */
const HOST = [...NAMES.flatMap((n) => [`/${n}`, `/etc/${n}`]), '/etc/cron.d/x'];

describe('image/unpack: property-based hostile layers', function () {
  this.timeout((SECONDS + 120) * 1000);

  it('never touches anything outside the layer, nor links out of it', async () => {
    for (const p of HOST) assert.ok(!existsSync(p), `${p} must not exist before the test`);
    const etc = lstatSync('/etc');
    const fdsBefore = openFds();
    const base = await tempDir('coracle-fuzz-');
    let run = 0;
    const outcomes = { ok: 0, refused: 0, layers: 0 };
    const reasons = new Map<string, number>();
    const details = await fc.check(
      fc.asyncProperty(layers, fc.boolean(), async (stack, walk) => {
        const work = join(base, String(run++));
        const decoy = join(work, 'decoy');
        mkdirSync(decoy, { recursive: true });
        makeDecoy(decoy);
        const before = snapshot(decoy);
        setOpenat2(!walk);
        try {
          const dirs: string[] = [];
          const earlier: string[] = [];
          for (const [i, gens] of stack.entries()) {
            const blob = join(work, `blob${i}`);
            writeFileSync(blob, (await buildLayer(gens.map((g) => { const e = toEntry(g, decoy, earlier); earlier.push(g.path); return e; }), { compression: i % 2 ? 'gzip' : 'none' })).blob);
            const target = join(work, `fs${i}`);
            mkdirSync(target);
            outcomes.layers++;
            try {
              await unpackLayer({ blob, target, parents: [...dirs].reverse(), lowerComplete: true });
              outcomes.ok++;
            } catch (err) {
              assert.match((err as Error).message, /^layer blob\d: /, 'a failure is the layer refusing, named');
              outcomes.refused++;
              const why = (err as Error).message.replace(/^layer blob\d: /, '').replace(/"[^"]*"/g, '…');
              reasons.set(why, (reasons.get(why) ?? 0) + 1);
            }
            dirs.push(target);
          }
          assert.deepEqual(diff(before, snapshot(decoy)), [], 'the decoy is untouched');
          for (const d of dirs) assert.deepEqual(linksOut(d), [], `no hardlink out of ${d}`);
          for (const p of HOST) assert.ok(!existsSync(p), `${p} was not made`);
          const now = lstatSync('/etc');
          assert.deepEqual([now.ino, now.mode, now.uid, now.gid], [etc.ino, etc.mode, etc.uid, etc.gid], '/etc is as it was');
        } finally {
          setOpenat2(true);
          rmSync(work, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false, ...(process.env['CORACLE_FUZZ_SEED'] ? { seed: Number(process.env['CORACLE_FUZZ_SEED']) } : {}) },
    );
    console.log(`      fuzz: ${details.numRuns} runs (seed ${details.seed}${details.interrupted ? ', stopped at the time limit' : ''}), ${outcomes.layers} layers: ${outcomes.ok} unpacked, ${outcomes.refused} refused`);
    for (const [why, n] of [...reasons].sort((x, y) => y[1] - x[1]).slice(0, 6)) console.log(`        ${n} × ${why}`);
    assert.ok(!details.failed, `counterexample (seed ${details.seed}, path ${details.counterexamplePath}): ${JSON.stringify(details.counterexample)}\n${String(details.errorInstance)}`);
    assert.ok(details.numRuns > 0);
    // Every unpack, refused or not, lets go of its files (streams close a moment later).
    for (let i = 0; i < 200 && openFds() > fdsBefore + 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(openFds() <= fdsBefore + 2, `open fds: ${fdsBefore} before, ${openFds()} after`);
  });
});
