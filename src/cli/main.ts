#!/usr/bin/env node
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { ServeOptions } from '../daemon/serve.js';
import type { DaemonTarget } from './daemon-target.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_CONFIG_TOML } from '../config/defaults.js';
import { messageOf } from '../errors.js';
import { exitStatusOf, USAGE_STATUS, usageError } from './exit-status.js';
import { checked, enumArg } from './flag-parsers.js';
import { CORACLE_VERSION } from '../version.js';

/*
 * Only the light modules above load at start; each command imports what it uses. The daemon
 * (`serve`) re-executes itself first (util/reexec.ts), and whatever this process loaded
 * before that is loaded for nothing; the CLI's client side (docker-commands: grpc-js, ws)
 * costs the daemon memory it never uses.
 */

/**
 * The daemon runs from its bundle (scripts/bundle.mjs: one file for what serve loads, less
 * memory than the hundreds of modules tsc writes) with its V8 flags: `serve` re-executes this
 * process as `node FLAGS <bundle> <the same arguments>`, which lands here again, bundled and
 * with the flags, and serves. Without a bundle (tsc's output alone) it serves from here.
 */
async function serve(opts: ServeOptions): Promise<void> {
  const { DAEMON_ENV, DAEMON_V8_FLAGS, reexecWith } = await import('../util/reexec.js');
  const { daemonScript } = await import('../util/package-root.js');
  let startWarning: { message: string; fields: Record<string, unknown> } | undefined;
  try {
    reexecWith(DAEMON_V8_FLAGS, daemonScript(), DAEMON_ENV);
  } catch (err) {
    // Not fatal: the daemon runs as it would have, with V8's default heap sizes.
    startWarning = { message: 'running without the V8 heap flags: re-executing with them failed', fields: { flags: DAEMON_V8_FLAGS, error: messageOf(err) } };
  }
  await (await import('../daemon/serve.js')).serveDaemon(opts, startWarning);
}

/** -H and $CORACLE_HOST: unix:///path, /path or tcp://host:port, as given. */
function parseHost(host: string): string {
  if (!/^(unix:\/\/\/|\/|tcp:\/\/[^/]+:\d+$)/.test(host)) throw new Error(`${host}: expected unix:///path/to.sock or tcp://host:port`);
  return host;
}

const program = new Command('coracle')
  // Every usage error commander finds (a bad flag value, a missing argument) exits 2, as
  // docker's; help and --version exit 0. Set first: the commands below inherit it.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : USAGE_STATUS))
  // Options after `run IMAGE` and `exec CONTAINER` belong to the command run, as in docker.
  .enablePositionalOptions()
  .description('Coracle, a Kubernetes CRI container runtime')
  .version(CORACLE_VERSION)
  .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_PATH}; absent means defaults)`)
  .option('-H, --host <address>', 'the daemon to talk to: unix:///path/to.sock or tcp://host:port (default: $CORACLE_HOST, else grpc.socket of the config)', checked(parseHost))
  .option('--tlsverify', 'with tcp://: verify the daemon against --tlscacert (always on: TCP is mutual TLS only)')
  .option('--tlscacert <file>', 'with tcp://: the CA that signed the daemon\'s certificate ($CORACLE_TLS_CA)')
  .option('--tlscert <file>', 'with tcp://: this client\'s certificate ($CORACLE_TLS_CERT)')
  .option('--tlskey <file>', 'with tcp://: this client\'s key ($CORACLE_TLS_KEY)');

program
  .command('serve')
  .description('run the daemon: CRI RuntimeService and ImageService on a unix socket')
  .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_PATH}; absent means defaults)`)
  .option('--root <dir>', 'durable state dir (root)')
  .option('--state <dir>', 'volatile state dir (state)')
  .option('--socket <path>', 'CRI socket path (grpc.socket)')
  .option('--log-level <level>', 'error, warn, info or debug (log.level)', enumArg(['error', 'warn', 'info', 'debug']))
  .option('--log-format <format>', 'json or text (log.format)', enumArg(['json', 'text']))
  .option('--listen <address>', 'also serve on tcp://HOST:PORT, with mutual TLS (remote.listen; needs remote.ca, remote.cert, remote.key)')
  .action(async (_opts: ServeOptions, command: Command) => {
    await serve(command.optsWithGlobals<ServeOptions>());
  });

interface ClientOptions {
  socket?: string;
  config?: string;
  host?: string;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

/**
 * The daemon to talk to: --socket, -H or $CORACLE_HOST (unix:///path, or tcp://host:port
 * with the client's TLS files: mutual TLS only), else the config's grpc.socket.
 */
async function socketOf(command: Command): Promise<DaemonTarget> {
  const opts = command.optsWithGlobals<ClientOptions>();
  if (opts.socket) return opts.socket;
  let host = opts.host;
  if (host === undefined && process.env.CORACLE_HOST) {
    try {
      host = parseHost(process.env.CORACLE_HOST);
    } catch (err) {
      throw usageError(`CORACLE_HOST: ${messageOf(err)}`);
    }
  }
  if (host) {
    if (host.startsWith('unix://')) return host.slice('unix://'.length);
    if (host.startsWith('/')) return host;
    const files = [opts.tlscacert ?? process.env.CORACLE_TLS_CA, opts.tlscert ?? process.env.CORACLE_TLS_CERT, opts.tlskey ?? process.env.CORACLE_TLS_KEY];
    if (files.some((f) => !f)) throw usageError(`${host}: the daemon is reached over TCP with mutual TLS only: give --tlscacert, --tlscert and --tlskey`);
    const [ca, cert, key] = await Promise.all(files.map((f) => readFile(f!)));
    return { address: host.slice('tcp://'.length), tls: { ca: ca!, cert: cert!, key: key! } };
  }
  const { loadConfig } = await import('../config/load.js');
  return (await loadConfig(opts.config)).config.grpc.socket;
}

// The daemon registers no client command: commander parses the global options and finds the
// command as it will at parseAsync (positional options: those after it are the command's).
const cli = (): Promise<typeof import('./docker-commands.js')> => import('./docker-commands.js');
if (program.parseOptions(process.argv.slice(2)).operands[0] !== 'serve') (await cli()).registerDockerCommands(program, socketOf);
const imageCommands = (): Promise<typeof import('./image-commands.js')> => import('./image-commands.js');

const imagesCommand = program
  .command('images')
  .description('list images; import and export image archives (docker save / OCI layout)')
  .option('-q, --quiet', 'only image ids')
  .option('--format <format>', 'table (the default), json, or a template: "{{.Repository}}:{{.Tag}}"')
  .action(async (opts: { quiet?: boolean; format?: string }, command: Command) => {
    await (await imageCommands()).listImages(await socketOf(command), opts);
  });
imagesCommand
  .command('import')
  .description('load the images of a docker-save or OCI-layout tarball')
  .argument('<file>', 'the tarball ("-" for standard input)')
  .option('--socket <path>', 'the daemon socket (default: grpc.socket of the config)')
  .action(async (file: string, _opts: unknown, command: Command) => {
    await (await imageCommands()).loadImages(await socketOf(command), file);
  });
imagesCommand
  .command('export')
  .description('write images as one tarball, both OCI layout and docker-save')
  .argument('<image...>', 'image ids, tags or repo digests')
  .requiredOption('-o, --output <file>', 'the tarball to write ("-" for standard output)')
  .option('--socket <path>', 'the daemon socket (default: grpc.socket of the config)')
  .action(async (images: string[], opts: { output: string }, command: Command) => {
    await (await imageCommands()).saveImages(await socketOf(command), images, opts.output);
  });

const configCommand = program.command('config').description('configuration');
configCommand
  .command('default')
  .description('print the embedded defaults as TOML')
  .action(() => {
    process.stdout.write(DEFAULT_CONFIG_TOML);
  });
configCommand
  .command('check')
  .description('validate the config file and print the effective config as JSON')
  .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_PATH})`)
  .action(async (_opts: unknown, command: Command) => {
    const { loadConfig } = await import('../config/load.js');
    const { config } = await loadConfig(command.optsWithGlobals<ServeOptions>().config);
    process.stdout.write(JSON.stringify(config, null, 2) + '\n');
  });

program.parseAsync(process.argv).catch(async (err: unknown) => {
  const { ConfigError } = await import('../config/load.js');
  if (err instanceof ConfigError) {
    process.stderr.write(`coracle: invalid config:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    process.exit(2);
  }
  process.stderr.write(`coracle: ${messageOf(err)}\n`);
  process.exit(exitStatusOf(err));
});
