import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * Records of objects that own a directory each (pods, containers): `<root>/<id>/<file>`,
 * written atomically and indexed in memory, each with the schema version of its kind.
 *
 * At load:
 * - a directory with no record file is what a daemon killed before its first write leaves
 *   (the record is written before anything else goes in the dir): removed;
 * - a record that cannot be read (torn by a power loss, edited by hand) or that a newer
 *   Coracle wrote (a schema version above this one's) is moved aside whole, dir and all, to
 *   `<root>/../quarantine/<kind>/<id>`, and logged: never deleted, as the dir may hold a
 *   container's writable layer;
 * - a record without a version is from before versions (0), read as version 1: the same shape.
 */
export const SCHEMA_VERSION_FIELD = 'schemaVersion';
export class RecordStore<T extends { id: string }> {
  private readonly records = new Map<string, T>();
  /**
   * Ids whose records this load set aside: their volatile state (a running container, its
   * mounts) is not an orphan's, and recovery must leave it alone.
   */
  readonly setAsideIds = new Set<string>();
  /** Ids of records loaded with an older schema version than this one's, by version: an upgrade's work. */
  private readonly older = new Map<string, number>();

  constructor(
    private readonly root: string,
    private readonly file: string,
    private readonly what: string,
    private readonly log: Logger,
    /** The schema version this Coracle writes and reads for this kind. */
    private readonly schemaVersion = 1,
  ) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Where records that cannot be loaded are kept, untouched: beside the store, on its filesystem. */
  private get quarantine(): string {
    return join(dirname(this.root), 'quarantine', this.what);
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
      let text: string;
      try {
        text = await readFile(join(this.root, id, this.file), 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) {
          this.log.warn(`${this.what} dir without a record: removed`, { [this.what]: id });
          await rm(join(this.root, id), { recursive: true, force: true });
        } else await this.setAside(id, `unreadable: ${(err as Error).message}`);
        continue;
      }
      const loaded = this.parse(text);
      if (typeof loaded === 'string') await this.setAside(id, loaded);
      else if (loaded.record.id !== id) await this.setAside(id, `its id is ${JSON.stringify(loaded.record.id)}, its dir ${id}`);
      else {
        this.records.set(id, loaded.record);
        if (loaded.version < this.schemaVersion) this.older.set(id, loaded.version);
      }
    }
  }

  /** The record in `text`, or why it cannot be loaded. */
  private parse(text: string): { record: T; version: number } | string {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return `unreadable: ${(err as Error).message}`;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'unreadable: not a JSON object';
    const { [SCHEMA_VERSION_FIELD]: version = 0, ...record } = doc as Record<string, unknown>;
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) return `unreadable: schema version ${JSON.stringify(version)}`;
    if (version > this.schemaVersion) return `written by a newer Coracle: schema version ${version}, this one reads up to ${this.schemaVersion}`;
    if (typeof record.id !== 'string') return 'unreadable: no id';
    return { record: record as T, version };
  }

  private async setAside(id: string, why: string): Promise<void> {
    this.setAsideIds.add(id);
    const to = join(this.quarantine, `${id}-${Date.now()}`);
    await mkdir(this.quarantine, { recursive: true });
    await rename(join(this.root, id), to);
    this.log.error(`${this.what} record cannot be loaded: moved aside, nothing deleted`, { [this.what]: id, reason: why, to });
  }

  /**
   * The schema version `id`'s record was loaded with, when older than this Coracle's (0: from
   * before versions); undefined once it is saved in the current one. The caller upgrades it.
   */
  olderVersion(id: string): number | undefined {
    return this.older.get(id);
  }

  all(): T[] {
    return [...this.records.values()];
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  /** The record `id` names: a full id or a unique prefix of one, among those `where` admits (all, without it). */
  resolve(id: string, where?: (r: T) => boolean): T | undefined {
    if (!id) return undefined;
    const exact = this.records.get(id);
    if (exact) return !where || where(exact) ? exact : undefined;
    const matches = this.all().filter((r) => r.id.startsWith(id) && (!where || where(r)));
    if (matches.length > 1) throw invalidArgument(`${this.what} id prefix ${id}: matches ${matches.length} ${this.what}s`);
    return matches[0];
  }

  /**
   * Atomic (temp + rename), not fsynced. A killed daemon finds the old record or the new one
   * whole (the page cache survives it). A host crash or power loss also kills every pod and
   * container process, and no guarantee needs the record then: a record left empty or torn
   * is set aside whole at init (its dir with it), one never written leaves a dir without a
   * record, removed at init; either way the pod's address lease and CNI
   * result are then collected as orphans (SandboxService.reconcile), its container state dir
   * too (ContainerService.reconcile); a container whose pod record was lost stays listed and
   * removable (RemoveContainer needs no pod; kubelet removes containers of no sandbox); a
   * record older than the last write describes processes that are gone, as every record
   * does after a reboot, fsynced or not. Images, which must survive, are written durably
   * (image-store, snapshotter, content-store).
   */
  async save(record: T): Promise<void> {
    await mkdir(this.dir(record.id), { recursive: true });
    await writeFileAtomic(join(this.dir(record.id), this.file), JSON.stringify({ [SCHEMA_VERSION_FIELD]: this.schemaVersion, ...record }) + '\n');
    this.records.set(record.id, record);
    this.older.delete(record.id);
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
    this.older.delete(id);
    return to;
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    this.older.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
