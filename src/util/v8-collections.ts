/**
 * V8's collections on demand, through the `gc` function that --expose-gc installs (the
 * daemon and its unpack workers run with it: util/reexec DAEMON_V8_FLAGS). Without the flag
 * (a test, the CLI) there is no `gc`, and both are undefined.
 *
 * Why a module of its own: what `gc`'s argument means depends on V8's version, and the
 * obvious call is wrong on Node 20. Its V8 (11.3) reads only two options from an options
 * object, `type: 'minor'` and `execution: 'async'`; an object with neither is a truthy
 * argument, and a truthy argument asks for a minor collection. So `gc({ type: 'major' })` is
 * a scavenge there (`node --trace-gc --expose-gc -e "gc({type:'major'})"` prints Scavenge),
 * and the memory reducer, which called it so, never ran a full collection: what the old
 * generation kept after a burst stayed until V8's own next one. bench/lifecycle read 75.8-76.1
 * MiB of RSS after 100 pods came and went in most runs and 67.8-69.2 in the others, by when
 * V8's last full collection fell. `gc()` with no argument is a full collection in every
 * version; with it, alternating with the build before, 3 runs each: 66.1-67.6 MiB against
 * 75.7-76.0, and with 20 pods up 66.1-67.6 MiB (PSS 42.3-43.7) against 75.0-77.4 (PSS
 * 51.1-53.5), the Start and Teardown sums no slower; a reduction takes 9-20 ms.
 * test/util/v8-collections.test.ts checks each kind through V8's own GC events.
 */

/** A full (mark-compact) collection, synchronous; undefined without --expose-gc. */
export function fullCollection(): (() => void) | undefined {
  const v8gc = globalThis.gc;
  return v8gc ? () => void v8gc() : undefined;
}

/** A young-generation collection (a scavenge), synchronous; undefined without --expose-gc. */
export function youngCollection(): (() => void) | undefined {
  const v8gc = globalThis.gc;
  return v8gc ? () => void v8gc({ type: 'minor' }) : undefined;
}
