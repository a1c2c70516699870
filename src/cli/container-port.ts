import type { Command } from 'commander';
import { CoracleError } from '../errors.js';
import { findContainer, withClient, type SocketOf } from './with-client.js';
import { usageError } from './exit-status.js';

interface Mapping {
  hostIp: string;
  hostPort: string;
  port: string;
  proto: string;
}

/** "0.0.0.0:8080->80/tcp", as `run -p` records it on the container. */
function parseMapping(text: string): Mapping | undefined {
  const m = /^(.*):(\d+)->(\d+)\/(tcp|udp)$/.exec(text);
  return m ? { hostIp: m[1]!, hostPort: m[2]!, port: m[3]!, proto: m[4]! } : undefined;
}

/** PRIVATE_PORT[/PROTO]: 80, 80/tcp, 53/udp. */
export function parsePrivatePort(text: string): { port: string; proto: string } {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(text);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new Error(`invalid port "${text}": expected PORT[/tcp|udp], the port from 1 to 65535`);
  return { port: String(Number(m[1])), proto: (m[2] ?? 'tcp').toLowerCase() };
}

/**
 * docker port: a container's published ports, from the mappings its pod was made with
 * (`run -p`): every mapping as "80/tcp -> 0.0.0.0:8080", or with a private port the host
 * addresses of that one, each "0.0.0.0:8080". A private port with no mapping is an error.
 */
export function registerPort(program: Command, socketOf: SocketOf): void {
  program
    .command('port')
    .description("a container's port mappings, or the host addresses of one of its ports")
    .argument('<container>')
    .argument('[private-port]', 'PORT[/PROTO], e.g. 80/tcp')
    .action(async (name: string, privatePort: string | undefined, _o: unknown, cmd: Command) => {
      let wanted: { port: string; proto: string } | undefined;
      try {
        wanted = privatePort === undefined ? undefined : parsePrivatePort(privatePort);
      } catch (err) {
        throw usageError(`port: ${(err as Error).message}`);
      }
      await withClient(await socketOf(cmd), async (client) => {
        const c = await findContainer(client, name);
        const all = c.ports.map(parseMapping).filter((m): m is Mapping => m !== undefined);
        if (!wanted) {
          process.stdout.write(all.map((m) => `${m.port}/${m.proto} -> ${m.hostIp}:${m.hostPort}\n`).join(''));
          return;
        }
        const these = all.filter((m) => m.port === wanted.port && m.proto === wanted.proto);
        if (these.length === 0) throw new CoracleError('NOT_FOUND', `no public port '${wanted.port}/${wanted.proto}' published for ${name}`);
        process.stdout.write(these.map((m) => `${m.hostIp}:${m.hostPort}\n`).join(''));
      });
    });
}
