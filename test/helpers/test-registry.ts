import bcrypt from 'bcryptjs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

/** Debian's docker-registry (distribution 2.8) on a loopback port, with its own storage. */
export interface TestRegistry {
  host: string;
  url: string;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v2/`);
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

/**
 * Starts a registry. scope 'test' (the default): stopped after the current test. scope
 * 'suite': the caller stops it, typically in an `after` hook.
 */
export async function startTestRegistry(
  opts: {
    users?: Record<string, string>;
    /** Bearer token auth by a token server (see token-server.ts) instead of htpasswd. */
    token?: { realm: string; service: string; issuer: string; certFile: string };
    scope?: 'test' | 'suite';
  } = {},
): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-registry-'));
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
    ];
    if (opts.users) {
      const lines = Object.entries(opts.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      config.push('auth:', '  htpasswd:', '    realm: coracle-test', `    path: ${join(dir, 'htpasswd')}`);
    }
    if (opts.token) {
      const t = opts.token;
      config.push('auth:', '  token:', `    realm: ${t.realm}`, `    service: ${t.service}`, `    issuer: ${t.issuer}`, `    rootcertbundle: ${t.certFile}`);
    }
    await writeFile(join(dir, 'config.yml'), config.join('\n') + '\n');
    const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let log = '';
    proc.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.once('exit', () => running.delete(proc));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && proc.exitCode === null && !(await answers(url))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (proc.exitCode !== null || !(await answers(url))) {
      proc.kill('SIGKILL');
      await exited;
      lastLog = log;
      continue; // most likely the port was taken in between: another one
    }
    let stopped: Promise<void> | undefined;
    const registry: TestRegistry = {
      host: `127.0.0.1:${port}`,
      url,
      dataDir: join(dir, 'data'),
      pid: proc.pid!,
      stop() {
        stopped ??= (async () => {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
    if ((opts.scope ?? 'test') === 'test') onCleanup(`stop registry ${registry.host}`, () => registry.stop());
    return registry;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`docker-registry did not start:\n${lastLog}`);
}

/** Flips the stored bytes of a blob (same length), so that its digest no longer matches. */
export async function corruptBlob(registry: TestRegistry, digest: string): Promise<void> {
  const hex = digest.slice(7);
  const path = join(registry.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const size = (await stat(path)).size;
  const fh = await open(path, 'r+');
  try {
    const buf = Buffer.alloc(Math.min(size, 64));
    await fh.read(buf, 0, buf.length, size - buf.length);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
    await fh.write(buf, 0, buf.length, size - buf.length);
  } finally {
    await fh.close();
  }
}
