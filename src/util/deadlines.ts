/**
 * The deadlines of many calls on one timer. Why not a timer per call: setTimeout and
 * clearTimeout were 4% of a ListImages call's CPU on a daemon whose code is not yet compiled,
 * and a call nearly always ends long before its deadline (kubelet's and critest's are minutes
 * away). The timer is armed for the earliest deadline. A deadline cleared leaves it armed:
 * when it fires with nothing due, it is armed for the next deadline, or not at all.
 */

/** Node's timer limit: a longer delay (2^31 ms and up) would be taken as 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Deadline {
  readonly at: number;
  readonly expire: () => void;
}

export class Deadlines {
  private readonly pending = new Set<Deadline>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `expire` runs once `ms` have passed (any delay, past Node's timer limit too), unless the deadline is cleared first. */
  add(ms: number, expire: () => void): Deadline {
    const d = { at: this.now() + ms, expire };
    this.pending.add(d);
    if (d.at < this.armedFor) this.arm(d.at);
    return d;
  }

  clear(d: Deadline | undefined): void {
    if (d) this.pending.delete(d);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedFor = at;
    // Unreferenced: the calls' sockets keep the daemon's loop alive, not their deadlines.
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, at - this.now()))).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    const due: Deadline[] = [];
    let next = Infinity;
    for (const d of this.pending) {
      if (d.at <= now) due.push(d);
      else if (d.at < next) next = d.at;
    }
    for (const d of due) this.pending.delete(d);
    if (next < Infinity) this.arm(next);
    // Each runs, whatever one before it threw; the first throw is then the timer's, as a
    // timer of its own would have thrown it.
    let thrown: { err: unknown } | undefined;
    for (const d of due) {
      try {
        d.expire();
      } catch (err) {
        thrown ??= { err };
      }
    }
    if (thrown) throw thrown.err;
  };
}
