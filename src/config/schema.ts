import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { parseSanEntry, parseSubjectEntry } from '../util/cert-allow.js';
import { parseCidr } from '../util/cidr.js';
import '../util/zod-messages.js';

const absolutePath = z.string().check(z.refine(isAbsolute, { message: 'must be an absolute path' }));
const positiveInt = z.int().check(z.positive());

const hostPort = z.string().check(
  z.refine((v) => /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(v), {
    message: 'must be host:port ([v6]:port for IPv6)',
  }),
);

/** host:port or [v6]:port with a port from 0 to 65535. */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;
const isHostPort = (v: string): boolean => {
  const m = HOST_PORT.exec(v);
  return m !== null && Number(m[2]) <= 65535;
};

/** Each entry through `parse`, its error as the issue at its index. */
function checkEach(list: string[], parse: (entry: string) => unknown, ctx: z.core.$RefinementCtx<string[]>): void {
  list.forEach((entry, i) => {
    try {
      parse(entry);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [i], message: (err as Error).message });
    }
  });
}

const registryHost = z
  .strictObject({
    mirrors: z._default(z.array(z.url({ protocol: /^https?$/ })), []),
    plain_http: z._default(z.boolean(), false),
    no_fallback: z._default(z.boolean(), false),
  })
  .check(z.superRefine((host, ctx) => {
    host.mirrors.forEach((url, i) => {
      if (url.startsWith('http://') && !host.plain_http) {
        ctx.addIssue({
          code: 'custom',
          path: ['mirrors', i],
          message: `${url} is plain http: set plain_http = true for this host to allow it`,
        });
      }
    });
    if (host.no_fallback && host.mirrors.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['no_fallback'],
        message: 'no_fallback with no mirrors leaves no endpoint to pull from',
      });
    }
  }));

/** A whole number from `min` to `max`. */
const intIn = (min: number, max?: number): z.ZodMiniInt => z.int().check(z.gte(min), ...(max === undefined ? [] : [z.lte(max)]));

export const configSchema = z
  .strictObject({
    root: absolutePath,
    state: absolutePath,
    grpc: z.strictObject({
      socket: absolutePath,
      max_recv_message_size: positiveInt,
      max_send_message_size: positiveInt,
    }),
    log: z.strictObject({
      level: z.enum(['error', 'warn', 'info', 'debug']),
      format: z.enum(['json', 'text']),
    }),
    runtime: z.strictObject({
      default_handler: z.string().check(z.minLength(1)),
      handlers: z.record(
        z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'handler names are DNS labels')),
        z.strictObject({ path: z.string().check(z.minLength(1)) }),
      ),
    }),
    cni: z
      .strictObject({
        conf_dir: absolutePath,
        bin_dirs: z.array(absolutePath).check(z.minLength(1)),
        network_name: z.string().check(z.minLength(1)),
        // IFNAMSIZ is 16 with the NUL.
        bridge: z.string().check(z.regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'must be a link name of 1 to 15 characters')),
        pod_subnet: z.string().check(
          z.superRefine((v, ctx) => {
            const parsed = parseCidr(v);
            if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
          }),
        ),
        pod_network: z.string(),
      })
      .check(
        z.superRefine((cni, ctx) => {
          if (cni.pod_network !== '' && cni.pod_network !== cni.network_name) {
            ctx.addIssue({ code: 'custom', path: ['pod_network'], message: `must be "" (the cluster's network from conf_dir) or network_name ("${cni.network_name}")` });
          }
        }),
      ),
    image: z.strictObject({
      max_concurrent_downloads: positiveInt,
      pull_progress_timeout: positiveInt,
    }),
    streaming: z.strictObject({
      address: hostPort,
      idle_timeout: positiveInt,
      handshake_timeout: positiveInt,
      stream_creation_timeout: positiveInt,
      max_header_bytes: intIn(1024, 16 << 20),
      max_streams_per_connection: positiveInt,
      max_buffered_bytes: intIn(64 << 10),
      max_total_buffered_bytes: intIn(1 << 20),
      max_connections: positiveInt,
      max_pending_connections: positiveInt,
    }),
    remote: z
      .strictObject({
        listen: z.string().check(z.refine((v) => v === '' || /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(v), { message: 'must be empty or tcp://host:port' })),
        ca: z.string(),
        cert: z.string(),
        key: z.string(),
        allowed_subjects: z.array(z.string()).check(z.superRefine((list, ctx) => checkEach(list, parseSubjectEntry, ctx))),
        allowed_sans: z.array(z.string()).check(z.superRefine((list, ctx) => checkEach(list, parseSanEntry, ctx))),
      })
      .check(
        z.superRefine((r, ctx) => {
          if (!r.listen) return;
          for (const k of ['ca', 'cert', 'key'] as const) {
            if (!r[k]) ctx.addIssue({ code: 'custom', path: [k], message: `a TCP listener is mutual TLS only: remote.${k} must name a PEM file` });
            else if (!isAbsolute(r[k])) ctx.addIssue({ code: 'custom', path: [k], message: 'must be an absolute path' });
          }
        }),
      ),
    metrics: z.strictObject({
      address: z.string().check(z.refine((v) => v === '' || isHostPort(v), { message: 'must be empty (off) or host:port ([v6]:port for IPv6), the port at most 65535' })),
    }),
    registry: z.strictObject({
      // Empty: none. Its owner and mode are checked when it is read, at each pull.
      config_path: z.string().check(z.refine((v) => v === '' || isAbsolute(v), { message: 'must be empty or an absolute path' })),
      hosts: z.record(z.string().check(z.minLength(1)), registryHost),
    }),
  })
  .check(
    z.superRefine((config, ctx) => {
      if (!(config.runtime.default_handler in config.runtime.handlers)) {
        ctx.addIssue({
          code: 'custom',
          path: ['runtime', 'default_handler'],
          message: `"${config.runtime.default_handler}" is not among runtime.handlers`,
        });
      }
    }),
  );

export type Config = z.infer<typeof configSchema>;
