import { setFlagsFromString } from 'node:v8';

/**
 * The daemon starts with V8's optimizing compiler (TurboFan) off (util/reexec
 * DAEMON_V8_FLAGS `--no-turbofan`) and turns it on here, once it serves. Why: what runs hot
 * at start (the module loader over the bundle, the config schema, recovery's loops) runs
 * once, and TurboFan compiling it is work and memory for nothing: its code pages in the node
 * binary (about 3 MiB of a fresh daemon's RSS), its zones and the optimized code it leaves.
 * From here on V8 tiers up as it always does: the RPC paths a kubelet keeps hot are
 * optimized as soon as they are hot; an idle daemon compiles nothing.
 *
 * V8 reads the flag each time it decides whether to optimize a function, and Node leaves
 * flags changeable after start (`--no-freeze-flags-after-init` is Node's default):
 * test/util/optimizer-gate.test.ts checks that a function becomes optimized after this.
 */
export function optimizeFromNowOn(set: (flags: string) => void = setFlagsFromString): void {
  set('--turbofan');
}
