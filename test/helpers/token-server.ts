import { execFileSync } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { tempDir } from './daemon.js';
import { listenOnLoopback } from './loopback-server.js';
import type { SeenRequest } from './fault-proxy.js';

/**
 * A registry token server, as Docker Hub's auth.docker.io: it checks basic credentials and
 * hands out JWTs signed with a key whose certificate the registry trusts (x5c header). Real
 * docker-registry verifies them, so the bearer flow is tested end to end.
 *
 * With `front(registry)`, every request but /token is passed to that registry: the realm is
 * then on the registry's own host:port (as Harbor's or GHCR's), the only place credentials
 * go over plain http. `replyBytes` pads each token reply to that size; `seen` records the
 * Authorization header of every request made to the server itself.
 */
export interface TokenServer {
  /** http://127.0.0.1:PORT, and its host:port. */
  url: string;
  host: string;
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** A token for `scope` signed for `user`, for pushing fixtures. */
  issue(user: string, scope: string): string;
  front(registryUrl: string): void;
  seen: SeenRequest[];
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** `anonymousToken`: what a request with no Authorization header gets (none: a 401). */
export async function startTokenServer(users: Record<string, string>, opts: { replyBytes?: number; anonymousToken?: string } = {}): Promise<TokenServer> {
  const dir = await tempDir('coracle-token-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=coracle-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(await readFile(keyFile));
  const cert = new X509Certificate(await readFile(certFile));
  const service = 'coracle-test-registry';
  const issuer = 'coracle-test-issuer';

  const issue = (user: string, scope: string): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scope
      .split(' ')
      .filter(Boolean)
      .map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',') };
      });
    const header = { alg: 'RS256', typ: 'JWT', x5c: [cert.raw.toString('base64')] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signing).sign(key);
    return `${signing}.${b64url(signature)}`;
  };

  const seen: SeenRequest[] = [];
  let upstream: string | undefined;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (upstream && url.pathname !== '/token') {
      const target = new URL(req.url ?? '/', upstream);
      const up = request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
      return;
    }
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    if (url.pathname === '/token' && opts.anonymousToken !== undefined && req.headers.authorization === undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: opts.anonymousToken }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    const [user, pass] = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':') : [];
    if (url.pathname !== '/token' || user === undefined || users[user] !== pass) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const reply = { token: issue(user, url.searchParams.get('scope') ?? ''), expires_in: 300, pad: '' };
    const bare = Buffer.byteLength(JSON.stringify(reply));
    if (opts.replyBytes && opts.replyBytes > bare) reply.pad = 'x'.repeat(opts.replyBytes - bare);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  const port = await listenOnLoopback(server, 'token server');
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    realm: `http://${host}/token`,
    service,
    issuer,
    certFile,
    issue,
    seen,
    front(registryUrl) {
      upstream = registryUrl;
    },
  };
}
