import { CoracleError, messageOf } from '../errors.js';
import { DOCKER_HUB_KEY } from '../image/docker-config.js';
import { basicHeader, parseChallenge } from '../image/registry-auth.js';
import { readStreamCapped } from '../util/bounded-read.js';

/**
 * What `coracle login` checks before it saves anything: that the registry takes the
 * credentials, as docker's login does. GET /v2/ anonymously; a 401 names how to authenticate:
 * Basic (the same request again with the credentials) or Bearer (a token from the realm,
 * asked with the credentials, then /v2/ with the token). The daemon's registry client is not
 * used: its authentication is per repository and a login names none, and the CLI must not
 * load the daemon's HTTP stack.
 *
 * https first; a loopback registry (127.0.0.0/8, ::1, localhost) that does not speak TLS is
 * tried over plain http, docker's default for its insecure registries. Credentials go only
 * to the registry itself and to a realm over https, or over http on the registry's own
 * origin when it is plain http itself, as the daemon's pulls send them.
 */

const TIMEOUT_MS = 30_000;
const MAX_TOKEN_REPLY_BYTES = 1 << 20;

const isLoopback = (hostname: string): boolean => hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';

const unauthorized = (key: string, detail: string): CoracleError =>
  new CoracleError('UNAUTHENTICATED', `login to ${key}: unauthorized: incorrect username or password (${detail})`);

/** One GET, redirects not followed (a redirect would carry the credentials elsewhere). */
async function get(url: string, authorization?: string): Promise<Response> {
  return fetch(url, {
    headers: { 'user-agent': 'coracle', ...(authorization ? { authorization } : {}) },
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** The registry's base URL, and its first reply to an anonymous /v2/. */
async function reach(key: string): Promise<{ base: string; res: Response }> {
  const host = key === DOCKER_HUB_KEY ? 'registry-1.docker.io' : key;
  const https = `https://${host}`;
  try {
    return { base: https, res: await get(`${https}/v2/`) };
  } catch (err) {
    if (!isLoopback(new URL(https).hostname)) throw new CoracleError('UNAVAILABLE', `login to ${key}: ${https}/v2/: ${messageOf(err)}${causeOf(err)}`, { cause: err });
    const http = `http://${host}`;
    try {
      return { base: http, res: await get(`${http}/v2/`) };
    } catch (err2) {
      throw new CoracleError('UNAVAILABLE', `login to ${key}: ${http}/v2/: ${messageOf(err2)}${causeOf(err2)}`, { cause: err2 });
    }
  }
}

/** fetch's "fetch failed" says little; its cause says what. */
function causeOf(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause instanceof Error ? ` (${cause.message})` : '';
}

/** Resolves when the registry at `key` (a docker config key) takes `username`:`password`. */
export async function verifyLogin(key: string, username: string, password: string): Promise<void> {
  const { base, res } = await reach(key);
  await discard(res);
  // A registry that asks for nothing: docker's login succeeds there too.
  if (res.status === 200) return;
  if (res.status !== 401) throw new CoracleError('UNAVAILABLE', `login to ${key}: ${base}/v2/ answered HTTP ${res.status}`);
  const challenge = parseChallenge(res.headers.get('www-authenticate') ?? undefined);
  if (!challenge) throw new CoracleError('UNAVAILABLE', `login to ${key}: ${base}/v2/ answered 401 without a challenge coracle knows (Basic or Bearer)`);
  const basic = basicHeader({ username, password })!;
  if (challenge.scheme === 'basic') {
    const again = await get(`${base}/v2/`, basic);
    await discard(again);
    if (again.status === 200) return;
    if (again.status === 401 || again.status === 403) throw unauthorized(key, `${base}/v2/ answered ${again.status}`);
    throw new CoracleError('UNAVAILABLE', `login to ${key}: ${base}/v2/ answered HTTP ${again.status}`);
  }
  const token = await bearerToken(key, base, challenge.params, username, basic);
  const last = await get(`${base}/v2/`, `Bearer ${token}`);
  await discard(last);
  if (last.status === 200) return;
  if (last.status === 401 || last.status === 403) throw unauthorized(key, `${base}/v2/ refused the realm's token with ${last.status}`);
  throw new CoracleError('UNAVAILABLE', `login to ${key}: ${base}/v2/ answered HTTP ${last.status}`);
}

/** A token from the challenge's realm, asked for with the credentials (no scope: a login). */
async function bearerToken(key: string, base: string, params: Record<string, string>, username: string, basic: string): Promise<string> {
  let realm: URL;
  try {
    realm = new URL(params.realm ?? '');
  } catch {
    throw new CoracleError('UNAVAILABLE', `login to ${key}: the challenge names no token realm URL`);
  }
  // The daemon's rule (registry-client.ts): a plain-http realm only on a plain-http registry's own origin.
  if (realm.protocol !== 'https:' && realm.origin !== new URL(base).origin) {
    throw new CoracleError('FAILED_PRECONDITION', `login to ${key}: the token realm ${realm.origin} is plain http${base.startsWith('https:') ? ` while ${key} is https` : ' on another host'}: credentials are not sent there`);
  }
  if (params.service) realm.searchParams.set('service', params.service);
  realm.searchParams.set('account', username);
  realm.searchParams.set('client_id', 'coracle');
  let res: Response;
  try {
    res = await get(realm.toString(), basic);
  } catch (err) {
    throw new CoracleError('UNAVAILABLE', `login to ${key}: token realm ${realm.origin}${realm.pathname}: ${messageOf(err)}${causeOf(err)}`, { cause: err });
  }
  if (res.status === 401 || res.status === 403) {
    await discard(res);
    throw unauthorized(key, `the token realm answered ${res.status}`);
  }
  if (res.status !== 200 || !res.body) {
    await discard(res);
    throw new CoracleError('UNAVAILABLE', `login to ${key}: token realm ${realm.origin}${realm.pathname} answered HTTP ${res.status}`);
  }
  const reply = await readStreamCapped(res.body as unknown as AsyncIterable<Uint8Array>, MAX_TOKEN_REPLY_BYTES, () => new CoracleError('UNAVAILABLE', `login to ${key}: the token realm's reply is larger than ${MAX_TOKEN_REPLY_BYTES} bytes`));
  const doc = parseTokenReply(reply);
  const token = doc?.token ?? doc?.access_token;
  if (typeof token !== 'string' || token === '') throw new CoracleError('UNAVAILABLE', `login to ${key}: the token realm gave no token`);
  return token;
}

function parseTokenReply(reply: Buffer): { token?: unknown; access_token?: unknown } | undefined {
  try {
    const doc: unknown = JSON.parse(reply.toString('utf8'));
    return typeof doc === 'object' && doc !== null ? doc : undefined;
  } catch {
    return undefined;
  }
}
