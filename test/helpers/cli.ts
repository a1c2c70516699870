import { execFile } from 'node:child_process';
import { CORACLE_BIN, startTestDaemon, tempDir, type TestDaemon } from './daemon.js';
import { TestPki } from './pki.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type ImageConfigSpec, type LayerEntry } from './images.js';
import { freePort, startTestRegistry, type TestRegistry } from './test-registry.js';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';
import { onCleanup } from './cleanup.js';
import { criClients, type CriClients } from './cri-client.js';

/** What one run of the `coracle` CLI printed, and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `coracle` CLI against the daemon at `socket`, with `input` on its standard input. */
export function coracle(socket: string, args: string[], input?: Buffer): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CORACLE_BIN, '-H', `unix://${socket}`, ...args], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

/** The same, its standard output as bytes (save's tarball). */
export function coracleBytes(socket: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CORACLE_BIN, '-H', `unix://${socket}`, ...args], { timeout: 60_000, maxBuffer: 64 << 20, encoding: 'buffer' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
    child.stdin?.end();
  });
}

/**
 * A suite's registry, with busybox pushed as `<registry>/cli/busybox:v1` and `:v2` (Cmd sh, PATH=/bin)
 * and any other images the suite asks for (busybox with more files or another config, each
 * under its own repository:tag). Stopped by the suite's `after`.
 */
export async function cliRegistry(more: Record<string, { files?: LayerEntry[]; config: ImageConfigSpec }> = {}): Promise<{ registry: TestRegistry; image: string; images: Record<string, string> }> {
  const registry = await startTestRegistry({ scope: 'suite' });
  const base = await buildLayer(await busyboxRootfsEntries());
  const built = buildImage({ layers: [base], config: { Env: ['PATH=/bin'], Cmd: ['sh'] }, history: [{ created_by: 'ADD busybox / # the test base' }] });
  await pushImage(registry.url, 'cli/busybox', built, ['v1', 'v2']);
  const images: Record<string, string> = {};
  for (const [name, spec] of Object.entries(more)) {
    const layers = spec.files ? [base, await buildLayer(spec.files)] : [base];
    const [repo, tag] = name.split(':') as [string, string];
    await pushImage(registry.url, repo, buildImage({ layers, config: spec.config }), [tag]);
    images[name] = `${registry.host}/${name}`;
  }
  return { registry, image: `${registry.host}/cli/busybox:v1`, images };
}

/**
 * A daemon for the CLI's tests, pulling from `registry`; `cli` runs the CLI against it;
 * `cliCri`, CRI clients in the CLI's namespace (d.clients are kubelet's: they see none of the CLI's).
 */
export async function cliDaemon(registry: TestRegistry): Promise<{ d: TestDaemon; cli: (...args: string[]) => Promise<CliResult>; cliCri: CriClients }> {
  // CRI pods would get the cluster's network (none here); the CLI's get Coracle's own.
  const d = await startTestDaemon({ network: true, clusterNetwork: true, mirrors: { [registry.host]: registry.url } });
  const cliCri = criClients(d.socket, CLI_NAMESPACE);
  onCleanup('close the CLI namespace clients', () => cliCri.close());
  return { d, cli: (...args) => coracle(d.socket, args), cliCri };
}

/** What a CLI suite's tests use: the suite's registry and images, and each test's own daemon. */
export interface CliSuite {
  registry: TestRegistry;
  image: string;
  images: Record<string, string>;
  d: TestDaemon;
  cli: (...args: string[]) => Promise<CliResult>;
  /** CRI clients in the CLI's namespace, to see what the CLI made. */
  cliCri: CriClients;
}

/**
 * A describe block's registry and images (cliRegistry, with `more`), made before its tests and
 * stopped after them. The fields are filled by the hooks: read them inside the tests.
 */
export function cliRegistrySuite(more: Parameters<typeof cliRegistry>[0] = {}): Awaited<ReturnType<typeof cliRegistry>> {
  const fx = {} as Awaited<ReturnType<typeof cliRegistry>>;
  before(async () => {
    Object.assign(fx, await cliRegistry(more));
  });
  after(async () => {
    await fx.registry?.stop();
  });
  return fx;
}

/**
 * Sets up a describe block of CLI tests: one registry for the suite (cliRegistry, with `more`
 * images), stopped after it, and a daemon of its own for each test. The fields are filled by
 * the hooks: read them inside the tests.
 */
export function cliSuite(more: Parameters<typeof cliRegistry>[0] = {}): CliSuite {
  const suite = cliRegistrySuite(more) as CliSuite;
  beforeEach(async () => {
    Object.assign(suite, await cliDaemon(suite.registry));
  });
  return suite;
}

/** The containers and pods of the CLI's namespace on `d`, sorted ids: a refused or --rm run must leave them as they were. */
export async function podsAndContainers(d: TestDaemon): Promise<{ containers: string[]; pods: string[] }> {
  const c = criClients(d.socket, CLI_NAMESPACE);
  try {
    return {
      containers: (await c.runtime.ListContainers({})).containers.map((x) => x.id).sort(),
      pods: (await c.runtime.ListPodSandbox({})).items.map((p) => p.id).sort(),
    };
  } finally {
    c.close();
  }
}

/**
 * Node's warning that grpc-js gives TLS an IP address as the server name (DEP0123) goes to the
 * CLI's stderr over tcp://127.0.0.1: not what the tests over TLS are about.
 */
export function withoutNodeWarnings(stderr: string): string {
  return stderr.replace(/^\(node:\d+\) \[DEP0123\].*\n(\(Use `node --trace-deprecation.*\n)?/m, '');
}

/**
 * A daemon serving its socket and a mutual-TLS listener on loopback (a CA, its server and
 * `client` certificates), pulling from `registry`: `local` runs the CLI over the socket,
 * `overTls` over tcp:// with the client's certificate, `remoteArgs` are its global flags.
 */
export async function tlsCliDaemon(registry: TestRegistry, timeoutMs = 60_000): Promise<{ d: TestDaemon; remoteArgs: string[]; local: (...args: string[]) => Promise<CliResult>; overTls: (...args: string[]) => Promise<CliResult> }> {
  const pki = new TestPki(await tempDir());
  await pki.ca('ca');
  await pki.signed('server', 'ca', 'IP:127.0.0.1');
  await pki.signed('client', 'ca', 'DNS:client');
  const port = await freePort();
  const server = pki.files('server');
  const remote = `[remote]\nlisten = "tcp://127.0.0.1:${port}"\nca = "${pki.files('ca').cert}"\ncert = "${server.cert}"\nkey = "${server.key}"\n`;
  const d = await startTestDaemon({ network: true, clusterNetwork: true, mirrors: { [registry.host]: registry.url }, extra: remote });
  const remoteArgs = ['-H', `tcp://127.0.0.1:${port}`, '--tlscacert', pki.files('ca').cert, '--tlscert', pki.files('client').cert, '--tlskey', pki.files('client').key];
  const overTls = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CORACLE_BIN, ...remoteArgs, ...args], { timeout: timeoutMs }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: withoutNodeWarnings(stderr) }),
      );
    });
  return { d, remoteArgs, local: (...args) => coracle(d.socket, args), overTls };
}
