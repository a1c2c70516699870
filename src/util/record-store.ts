import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * Records of objects that own a directory each (pods, containers): `<root>/<id>/<file>`,
 * written atomically and indexed in memory. A directory without a readable record is what
 * a daemon killed before its first write leaves, and is removed at load.
 */
export class RecordStore<T extends { id: string }> {
  private readonly records = new Map<string, T>();

  constructor(
    private readonly root: string,
    private readonly file: string,
    private readonly what: string,
    private readonly log: Logger,
  ) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Where discarded records' dirs wait to be removed: beside the store, on its filesystem. */
  private get trash(): string {
    return join(dirname(this.root), 'trash', this.what);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // What a daemon stopped before removing it: no record refers to it any more.
    await rm(this.trash, { recursive: true, force: true });
    for (const id of await readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(id)) continue;
      try {
        this.records.set(id, JSON.parse(await readFile(join(this.root, id, this.file), 'utf8')) as T);
      } catch (err) {
        this.log.warn(`${this.what} dir without a record: removed`, { [this.what]: id, error: (err as Error).message });
        await rm(join(this.root, id), { recursive: true, force: true });
      }
    }
  }

  all(): T[] {
    return [...this.records.values()];
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  /** The record `id` names: a full id or a unique prefix of one. */
  resolve(id: string): T | undefined {
    if (!id) return undefined;
    const exact = this.records.get(id);
    if (exact) return exact;
    const matches = this.all().filter((r) => r.id.startsWith(id));
    if (matches.length > 1) throw invalidArgument(`${this.what} id prefix ${id}: matches ${matches.length} ${this.what}s`);
    return matches[0];
  }

  /**
   * Atomic (temp + rename), not fsynced. A killed daemon finds the old record or the new one
   * whole (the page cache survives it). A host crash or power loss also kills every pod and
   * container process, and no guarantee needs the record then: a record lost or left empty
   * is a dir without a readable record, removed at init; the pod's address lease and CNI
   * result are then collected as orphans (SandboxService.reconcile), its container state dir
   * too (ContainerService.reconcile); a container whose pod record was lost stays listed and
   * removable (RemoveContainer needs no pod; kubelet removes containers of no sandbox); a
   * record older than the last write describes processes that are gone, as every record
   * does after a reboot, fsynced or not. Images, which must survive, are written durably
   * (image-store, snapshotter, content-store).
   */
  async save(record: T): Promise<void> {
    await mkdir(this.dir(record.id), { recursive: true });
    await writeFileAtomic(join(this.dir(record.id), this.file), JSON.stringify(record) + '\n');
    this.records.set(record.id, record);
  }

  /**
   * Drops a record at once and leaves its dir to the caller to remove, later: the dir is
   * renamed into the trash (one step: from then on no load finds the record), and the trash
   * is emptied at every load. Returns where the dir went.
   */
  async discard(id: string): Promise<string> {
    const to = join(this.trash, id);
    await mkdir(this.trash, { recursive: true });
    try {
      await rename(this.dir(id), to);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    this.records.delete(id);
    return to;
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
