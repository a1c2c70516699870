import { constants } from 'node:fs';
import { link, mkdir, open, readdir, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import koffi from 'koffi';
import { CoracleError, isErrno } from '../errors.js';
import { flock } from '../util/fs-syscalls.js';

/**
 * IPv4 address management in process, on host-local's on-disk layout, so that the CNI
 * host-local plugin (a daemon downgraded to the plugin chain, or a DEL by hand) reads and
 * releases these leases as its own, and this reads its leases:
 *   DIR/<ip>                one file per address held: "<container id>\r\n<ifname>"
 *                           (an older host-local wrote the id alone)
 *   DIR/last_reserved_ip.0  the last address handed out: the next search starts after it
 *   DIR/lock                flock(2)ed for every change
 * with host-local's default range: the subnet minus its network, gateway (the first host)
 * and broadcast addresses. Written by hand: this is the plugin's file format, not a library's.
 * Changes are serialized in process (one queue) and against other processes (the flock).
 */
const LEASE_MAX_BYTES = 1024;
const LOCK_WAIT_MS = 10_000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;
const LAST_RESERVED = 'last_reserved_ip.0';
/** Not an address: host-local and lease scans skip it. */
const TMP_PREFIX = '.coracle-lease-';


const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const leaseText = (id: string, ifName: string): string => `${id}\r\n${ifName}`;

export interface Lease {
  address: string;
  prefix: number;
  gateway: string;
}

export class HostLocalIpam {
  private queue: Promise<unknown> = Promise.resolve();
  /** Temp leases of killed writers removed, once per process. */
  private swept = false;
  private readonly first: number;
  private readonly last: number;
  private readonly gateway: number;

  /** `subnet` is an IPv4 CIDR with a prefix of 30 or less (the caller checks). */
  constructor(
    /** host-local's dataDir joined with the network's name. */
    readonly dir: string,
    private readonly subnet: { address: string; prefix: number },
  ) {
    const size = 2 ** (32 - subnet.prefix);
    const network = toInt(subnet.address) - (toInt(subnet.address) % size);
    this.gateway = network + 1;
    this.first = network + 1;
    this.last = network + size - 2;
  }

  /** Runs `fn` after every change queued before it, holding the directory's flock. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      await mkdir(this.dir, { recursive: true });
      const lock = await open(join(this.dir, 'lock'), constants.O_RDONLY | constants.O_CREAT, 0o600);
      try {
        await this.flock(lock);
        try {
          return await fn();
        } finally {
          flock(lock.fd, LOCK_UN);
        }
      } finally {
        await lock.close();
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Non-blocking tries: a blocking flock would hold Node's only thread. */
  private async flock(lock: FileHandle): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      if (flock(lock.fd, LOCK_EX | LOCK_NB) === 0) return;
      const errno = koffi.errno();
      if (errno !== EWOULDBLOCK) throw new CoracleError('INTERNAL', `IPAM ${this.dir}: flock: errno ${errno}`);
      if (Date.now() > deadline) throw new CoracleError('UNAVAILABLE', `IPAM ${this.dir}: lock held by another process for ${LOCK_WAIT_MS} ms`);
      await sleep(5);
    }
  }

  /**
   * An address for `id` on `ifName`: the first free one after the last handed out, wrapping
   * around, as host-local picks it. A free address is one without a lease file; the lease is
   * a link to a whole temp file, which fails if the name is taken (as O_EXCL would), so a
   * lease another writer made is never taken over.
   */
  allocate(id: string, ifName: string): Promise<Lease> {
    return this.locked(async () => {
      // Under the lock no writer is half-way: a temp lease there is a killed writer's.
      if (!this.swept) {
        for (const name of await readdir(this.dir)) if (name.startsWith(TMP_PREFIX)) await unlink(join(this.dir, name)).catch(() => undefined);
        this.swept = true;
      }
      const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}`);
      await writeFile(tmp, leaseText(id, ifName), { mode: 0o644 });
      try {
        return await this.take(id, tmp);
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
    });
  }

  private async take(id: string, tmp: string): Promise<Lease> {
    const lastText = await this.content(LAST_RESERVED).catch(() => '');
    const lastInt = /^\d+\.\d+\.\d+\.\d+$/.test(lastText) ? toInt(lastText) : -1;
    const count = this.last - this.first + 1;
    const start = lastInt >= this.first && lastInt <= this.last ? lastInt + 1 : this.first;
    for (let i = 0; i < count; i++) {
      const n = this.first + ((start - this.first + i) % count);
      if (n === this.gateway) continue;
      const ip = toIp(n);
      // Made whole, then linked to its name (EEXIST if taken): a kill -9 never leaves an
      // empty lease, which would name no pod and hold its address forever.
      try {
        await link(tmp, join(this.dir, ip));
      } catch (err) {
        if (isErrno(err, 'EEXIST')) continue;
        throw err;
      }
      // A hint for the next search: losing it to a crash only moves where that starts.
      await writeFile(join(this.dir, LAST_RESERVED), ip);
      return { address: ip, prefix: this.subnet.prefix, gateway: toIp(this.gateway) };
    }
    throw new CoracleError('RESOURCE_EXHAUSTED', `IPAM ${this.dir}: no free address for ${id} in ${this.subnet.address}/${this.subnet.prefix}`);
  }

  /**
   * Releases what `id` holds on `ifName`. With `hint` (the address a cached result names)
   * only that lease is looked at; without, every lease is read (a crash before the cache).
   */
  release(id: string, ifName: string, hint?: string): Promise<void> {
    return this.locked(async () => {
      const names = hint ? [hint] : await readdir(this.dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(name)) continue;
        const holder = await this.content(name);
        if (holder === leaseText(id, ifName) || holder === id) await unlink(join(this.dir, name)).catch((err: unknown) => {
          if (!isErrno(err, 'ENOENT')) throw err;
        });
      }
    });
  }

  /** The trimmed content of a file of the dir, read up to a cap; '' if it is not there. */
  private async content(name: string): Promise<string> {
    let file: FileHandle;
    try {
      file = await open(join(this.dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP')) return '';
      throw err;
    }
    try {
      const buf = Buffer.alloc(LEASE_MAX_BYTES);
      const { bytesRead } = await file.read(buf, 0, LEASE_MAX_BYTES, 0);
      return buf.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await file.close();
    }
  }
}
