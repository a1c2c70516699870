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
  // Each call passes on all its arguments (`...rest`) but the id it checks: one a service
  // gains later goes through without a change here.
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
  /** A removal of an id the caller has not is no error and does nothing, as one of an unknown id (kubelet retries removals). */
  const ifOwn =
    <R extends unknown[]>(find: (id: string) => string | undefined, remove: (id: string, ...rest: R) => Promise<void>) =>
    async (id: string, ...rest: R): Promise<void> => {
      const full = id ? find(id) : id;
      if (full !== undefined) await remove(full, ...rest);
    };
  /** Calls that take the exact id of a pod (no prefix): one of another namespace is not there. */
  const ownPod = (id: string): boolean => podOf(id) === id;
  return {
    runtimeStatus: s.runtimeStatus,
    settings: s.settings,
    images: s.images,
    sandboxes: {
      run: (spec, ...rest) => sandboxes.run({ ...spec, namespace: ns }, ...rest),
      stop: (id, ...rest) => sandboxes.stop(mustPod(id), ...rest),
      remove: ifOwn(podOf, sandboxes.remove.bind(sandboxes)),
      status: (id, ...rest) => sandboxes.status(mustPod(id), ...rest),
      list: (filter = {}) => sandboxes.list({ ...filter, namespace: ns }),
      resolve: (id) => sandboxes.resolve(id, ns),
    },
    containers: {
      create: async (spec, ...rest) => {
        if (spec.sandboxId && !ownPod(spec.sandboxId)) throw notFound(`sandbox ${spec.sandboxId}: not found`);
        return containers.create(spec, ...rest);
      },
      start: (id, ...rest) => containers.start(mustContainer(id), ...rest),
      stop: (id, ...rest) => containers.stop(mustContainer(id), ...rest),
      remove: ifOwn(containerOf, containers.remove.bind(containers)),
      status: (id, ...rest) => containers.status(mustContainer(id), ...rest),
      list: (filter = {}) => containers.list({ ...filter, namespace: ns }),
      listStats: (filter = {}) => containers.listStats({ ...filter, namespace: ns }),
      resolve: (id) => containers.resolve(id, ns),
      execSync: (id, ...rest) => containers.execSync(mustContainer(id), ...rest),
      checkpoint: (id, ...rest) => containers.checkpoint(mustContainer(id), ...rest),
      top: (id, ...rest) => containers.top(mustContainer(id), ...rest),
      commit: (id, ...rest) => containers.commit(mustContainer(id), ...rest),
      restart: (id, ...rest) => containers.restart(mustContainer(id), ...rest),
      signal: (id, ...rest) => containers.signal(mustContainer(id), ...rest),
      copyFrom: (id, ...rest) => containers.copyFrom(mustContainer(id), ...rest),
      copyTo: (id, ...rest) => containers.copyTo(mustContainer(id), ...rest),
      logs: (id, ...rest) => containers.logs(mustContainer(id), ...rest),
      reopenLog: (id, ...rest) => containers.reopenLog(mustContainer(id), ...rest),
      stats: (id, ...rest) => containers.stats(mustContainer(id), ...rest),
      updateResources: (id, ...rest) => containers.updateResources(mustContainer(id), ...rest),
      podStats: async (id, ...rest) => {
        if (!ownPod(id)) throw notFound(`sandbox ${id}: not found`);
        return containers.podStats(id, ...rest);
      },
      podsStats: (ids) => containers.podsStats(ids.filter(ownPod)),
    },
    streaming: {
      exec: (id, ...rest) => streaming.exec(mustContainer(id), ...rest),
      attach: (id, ...rest) => streaming.attach(mustContainer(id), ...rest),
      portForward: (id, ...rest) => streaming.portForward(mustPod(id), ...rest),
    },
    events: {
      subscribe: (listener, onClose) =>
        events.subscribe((e) => {
          if (e.namespace === ns) listener(e);
        }, onClose),
    },
  };
}
