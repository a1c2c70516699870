import { notFound } from '../errors.js';
import type { CriServices } from './cri-services.js';

/**
 * The services as one namespace's caller sees them: the one place where namespaces are
 * enforced (server.ts builds every handler over such a view, from the namespace wrap.ts read
 * off the call). An object of another namespace is exactly as one that does not exist: its id
 * is NOT_FOUND (a removal of it, no error, as for an unknown id), a prefix never matches it,
 * and lists and events leave it out. Objects are made in the caller's namespace. Images and
 * the runtime's own calls are shared: kubelet may run an image the CLI pulled.
 */
export function namespaceView(s: CriServices, ns: string): CriServices {
  const { containers, sandboxes, streaming, events } = s;
  /** The full id of the caller's container (or pod) `id` names, or undefined. */
  const containerOf = (id: string): string | undefined => containers.resolve(id, ns)?.id;
  const podOf = (id: string): string | undefined => sandboxes.resolve(id, ns)?.id;
  /** The same, NOT_FOUND when there is none. An empty id goes on as it is: the handler's own check names it. */
  const must =
    (what: 'container' | 'sandbox', find: (id: string) => string | undefined) =>
    (id: string): string => {
      if (!id) return id;
      const full = find(id);
      if (full === undefined) throw notFound(`${what} ${id}: not found`);
      return full;
    };
  const mustContainer = must('container', containerOf);
  const mustPod = must('sandbox', podOf);
  /** Calls that take the exact id of a pod (no prefix): one of another namespace is not there. */
  const ownPod = (id: string): boolean => podOf(id) === id;
  return {
    runtimeStatus: s.runtimeStatus,
    settings: s.settings,
    images: s.images,
    sandboxes: {
      run: (spec, log) => sandboxes.run({ ...spec, namespace: ns }, log),
      stop: (id, log) => sandboxes.stop(mustPod(id), log),
      remove: async (id, log) => {
        const full = id ? podOf(id) : id;
        if (full !== undefined) await sandboxes.remove(full, log);
      },
      status: (id) => sandboxes.status(mustPod(id)),
      list: (filter = {}) => sandboxes.list({ ...filter, namespace: ns }),
      resolve: (id) => sandboxes.resolve(id, ns),
    },
    containers: {
      create: async (spec, log) => {
        if (spec.sandboxId && !ownPod(spec.sandboxId)) throw notFound(`sandbox ${spec.sandboxId}: not found`);
        return containers.create(spec, log);
      },
      start: (id, log) => containers.start(mustContainer(id), log),
      stop: (id, timeout, log) => containers.stop(mustContainer(id), timeout, log),
      remove: async (id, log) => {
        const full = id ? containerOf(id) : id;
        if (full !== undefined) await containers.remove(full, log);
      },
      status: (id) => containers.status(mustContainer(id)),
      list: (filter = {}) => containers.list({ ...filter, namespace: ns }),
      listStats: (filter = {}) => containers.listStats({ ...filter, namespace: ns }),
      resolve: (id) => containers.resolve(id, ns),
      execSync: (id, cmd, timeout) => containers.execSync(mustContainer(id), cmd, timeout),
      checkpoint: (id, location) => containers.checkpoint(mustContainer(id), location),
      top: (id) => containers.top(mustContainer(id)),
      commit: (id, o, log) => containers.commit(mustContainer(id), o, log),
      restart: (id, log) => containers.restart(mustContainer(id), log),
      signal: (id, signal) => containers.signal(mustContainer(id), signal),
      reopenLog: (id) => containers.reopenLog(mustContainer(id)),
      stats: (id) => containers.stats(mustContainer(id)),
      updateResources: (id, r) => containers.updateResources(mustContainer(id), r),
      podStats: async (id) => {
        if (!ownPod(id)) throw notFound(`sandbox ${id}: not found`);
        return containers.podStats(id);
      },
      podsStats: (ids) => containers.podsStats(ids.filter(ownPod)),
    },
    streaming: {
      exec: (id, cmd, o) => streaming.exec(mustContainer(id), cmd, o),
      attach: (id, o) => streaming.attach(mustContainer(id), o),
      portForward: (id, ports) => streaming.portForward(mustPod(id), ports),
    },
    events: {
      subscribe: (listener, onClose) =>
        events.subscribe((e) => {
          if (e.namespace === ns) listener(e);
        }, onClose),
    },
  };
}
