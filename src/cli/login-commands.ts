import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { configKeyFor, credentialsFor, DOCKER_HUB_KEY, withLogin, withoutLogin } from '../image/docker-config.js';
import { readStreamCapped } from '../util/bounded-read.js';
import { credentialsPath, loadCredentials, saveCredentials } from './credentials-store.js';
import { usageError } from './exit-status.js';
import { verifyLogin } from './registry-login.js';

/**
 * docker login and logout, on docker's own credentials file (credentials-store.ts): login
 * checks the credentials against the registry (registry-login.ts) and saves them only if it
 * takes them; `coracle pull` and `run` then send them with their pulls. Neither command
 * talks to the daemon. Secrets are never printed, not even in an error.
 */
export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description(`log in to a registry (default Docker Hub, ${DOCKER_HUB_KEY}); the credentials go in $DOCKER_CONFIG/config.json or ~/.docker/config.json`)
    .argument('[server]', 'the registry: host[:port]')
    .option('-u, --username <user>', 'the user name')
    .option('-p, --password <password>', 'the password (insecure: it shows in the process list; use --password-stdin)')
    .option('--password-stdin', 'read the password from standard input (its first line)')
    .action(async (server: string | undefined, o: LoginFlags) => login(server, o));

  program
    .command('logout')
    .description('log out from a registry (default Docker Hub): its credentials removed from the file')
    .argument('[server]', 'the registry: host[:port]')
    .action(async (server: string | undefined) => logout(server));
}

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

/** docker's key for the server given (a URL's host, Docker Hub's by any of its names). */
function keyOf(server: string | undefined, command: 'login' | 'logout'): string {
  if (server === undefined || server === '') return DOCKER_HUB_KEY;
  try {
    return configKeyFor(server);
  } catch {
    throw usageError(`${command}: ${JSON.stringify(server)} names no registry host`);
  }
}

/** A line typed on the terminal; with `hidden`, not echoed (a password). */
async function ask(question: string, hidden: boolean): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done): void {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  let cancelled = (): void => undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      // Ctrl+C or Ctrl+D closes the interface: no answer.
      cancelled = () => reject(new CoracleError('CANCELLED', 'login: cancelled'));
      rl.once('close', cancelled);
      rl.question(question, (answer) => resolve(answer));
      muted = hidden;
    });
  } finally {
    // Only this listener: readline's own 'close' listener detaches it from the terminal.
    rl.off('close', cancelled);
    rl.close();
    if (hidden) process.stderr.write('\n');
  }
}

/** --password-stdin: the first line of standard input, its line ending dropped. */
async function passwordFromStdin(): Promise<string> {
  const all = await readStreamCapped(process.stdin, 64 << 10, () => usageError('login: --password-stdin: more than 64 KiB on standard input'));
  return all.toString('utf8').split('\n')[0]!.replace(/\r$/, '');
}

async function login(server: string | undefined, o: LoginFlags): Promise<void> {
  if (o.password !== undefined && o.passwordStdin) throw usageError('login: --password and --password-stdin are mutually exclusive');
  if (o.passwordStdin && !o.username) throw usageError('login: must provide --username with --password-stdin');
  const key = keyOf(server, 'login');
  const path = credentialsPath();
  const doc = await loadCredentials(path);
  if (doc.credsStore !== undefined || doc.credHelpers !== undefined) {
    process.stderr.write(`WARNING! ${path} names credential helpers (credsStore, credHelpers): coracle does not run them; the credentials go in the file.\n`);
  }
  if (o.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  let username = o.username;
  let password = o.password;
  if (o.passwordStdin) password = await passwordFromStdin();

  // As docker: no user and no password given, the credentials saved for the server are tried first.
  if (username === undefined && password === undefined) {
    const saved = credentialsFor(doc, key, path);
    if (saved?.username !== undefined) {
      process.stdout.write(`Authenticating with existing credentials... [Username: ${saved.username}]\n`);
      try {
        await verifyLogin(key, saved.username, saved.password ?? '');
        process.stdout.write('Login Succeeded\n');
        return;
      } catch (err) {
        if (!(err instanceof CoracleError) || err.code !== 'UNAUTHENTICATED') throw err;
        process.stderr.write('Login did not succeed with the existing credentials.\n');
      }
    }
  }
  if (username === undefined || username === '' || password === undefined || password === '') {
    if (!process.stdin.isTTY) throw new CoracleError('FAILED_PRECONDITION', 'Cannot perform an interactive login from a non TTY device');
    if (username === undefined || username === '') username = (await ask('Username: ', false)).trim();
    if (username === '') throw new CoracleError('INVALID_ARGUMENT', 'login: a user name is required');
    if (password === undefined || password === '') password = await ask('Password: ', true);
    if (password === '') throw new CoracleError('INVALID_ARGUMENT', 'login: a password is required');
  }
  await verifyLogin(key, username, password);
  await saveCredentials(withLogin(doc, key, username, password), path);
  process.stderr.write(`WARNING! Your password will be stored unencrypted in ${path}.\n`);
  process.stdout.write('Login Succeeded\n');
}

async function logout(server: string | undefined): Promise<void> {
  const key = keyOf(server, 'logout');
  const path = credentialsPath();
  const { doc, removed } = withoutLogin(await loadCredentials(path), key);
  if (!removed) {
    process.stdout.write(`Not logged in to ${key}\n`);
    return;
  }
  process.stdout.write(`Removing login credentials for ${key}\n`);
  await saveCredentials(doc, path);
}
