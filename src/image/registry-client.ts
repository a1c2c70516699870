import { CoracleError, messageOf, type ErrorCode } from '../errors.js';
import { readStreamCapped } from '../util/bounded-read.js';
import { closeAgents, discard, httpAgents, sendRequest, type HttpAgents, type HttpResponse } from './http-transport.js';
import { sha256Digest } from './digest.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from './manifest.js';
import { basicHeader, parseChallenge, scopeCredentials, type Challenge, type RegistryCredentials } from './registry-auth.js';
import type { Endpoint } from './registry-hosts.js';

export interface RegistryClientOptions {
  /** No response headers for this long: the attempt fails. */
  headersTimeoutMs: number;
  /** No body bytes for this long: the download is cancelled (containerd's progress timeout). */
  progressTimeoutMs: number;
  /** Attempts per request on transient failures (network errors, 429, 5xx). */
  attempts: number;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string | undefined;
  body: Buffer;
}

/** An error from one endpoint; `transient` ones are worth another attempt or endpoint. */
export class RegistryError extends CoracleError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly transient: boolean,
  ) {
    super(code, message);
  }
}

const MAX_REDIRECTS = 5;
/** A token server's reply is a small JSON document; more than this is not one. */
const MAX_TOKEN_REPLY_BYTES = 1 << 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A client of one endpoint of the distribution API v2, for one repository and one set of
 * credentials: a pull uses one per endpoint it tries. Bearer tokens are fetched from the
 * realm a 401 names and kept for the next requests; blobs follow redirects, and the
 * Authorization header never follows a redirect to another origin.
 *
 * Credentials reach only the endpoint they were given for (registry-auth.ts,
 * scopeCredentials), a token realm over https or, for a plain-http endpoint, on its own
 * origin, and never a host a redirect led to: a 401 there gets an anonymous token at most.
 */
export class RegistryRepository {
  private token: string | undefined;
  /** Anonymous tokens for the origins redirects led to, by origin; never the endpoint's. */
  private readonly redirectTokens = new Map<string, string>();
  private basic = false;
  private readonly credentials: RegistryCredentials | undefined;
  /** Why credentials given for the pull were not sent, for a 401's error. */
  private withheld: string | undefined;

  constructor(
    readonly endpoint: Endpoint,
    readonly repository: string,
    credentials: RegistryCredentials | undefined,
    private readonly agents: HttpAgents,
    private readonly options: RegistryClientOptions,
  ) {
    const scoped = scopeCredentials(credentials, endpoint);
    this.credentials = scoped.credentials;
    this.withheld = scoped.withheld;
    if (this.credentials?.registryToken) this.token = this.credentials.registryToken;
  }

  private get origin(): string {
    return new URL(this.endpoint.url).origin;
  }

  private authorization(): string | undefined {
    if (this.token) return `Bearer ${this.token}`;
    if (this.basic && this.credentials) return basicHeader(this.credentials);
    return undefined;
  }

  private describe(path: string): string {
    return `${this.endpoint.url}/v2/${this.repository}/${path}`;
  }

  /** One request with redirects followed by hand; the body is left for the caller. */
  private async once(path: string, accept: string | undefined, signal?: AbortSignal): Promise<{ res: HttpResponse; url: string }> {
    let url = `${this.endpoint.url}/v2/${this.repository}/${path}`;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'coracle' };
      if (accept) headers.accept = accept;
      const origin = new URL(url).origin;
      const redirectToken = this.redirectTokens.get(origin);
      const auth = origin === this.origin ? this.authorization() : redirectToken ? `Bearer ${redirectToken}` : undefined;
      if (auth) headers.authorization = auth;
      const res = await sendRequest(this.agents, url, {
        method: 'GET',
        headers,
        headersTimeoutMs: this.options.headersTimeoutMs,
        progressTimeoutMs: this.options.progressTimeoutMs,
        ...(signal ? { signal } : {}),
      });
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        await discard(res);
        if (hop >= MAX_REDIRECTS) throw new RegistryError('UNAVAILABLE', `${this.describe(path)}: too many redirects`, false);
        url = new URL(location, url).toString();
        continue;
      }
      return { res, url };
    }
  }

  /**
   * Answers a 401 challenge: fetches a bearer token or switches to basic auth. A challenge
   * from another origin than the endpoint's (a redirect led there) gets an anonymous token at
   * most, kept for that origin only.
   */
  private async authenticate(res: HttpResponse, from: string, path: string, signal?: AbortSignal): Promise<boolean> {
    const challenge = parseChallenge(res.first('www-authenticate'));
    const origin = new URL(from).origin;
    if (origin !== this.origin) return this.authenticateRedirected(challenge, origin, path, signal);
    if (!challenge) return false;
    if (challenge.scheme === 'basic') {
      if (!this.credentials || this.basic || this.credentials.username === undefined) return false;
      this.basic = true;
      return true;
    }
    if (this.token && this.token !== this.credentials?.registryToken) return false; // a fresh token was refused
    const realm = this.realmOf(challenge, path);
    if (!realm) return false;
    // Over plain http, credentials go only to the endpoint's own origin, and only when the
    // endpoint itself is plain http (plain_http in the config let them go there already):
    // an https registry naming an http realm, even on its own host, would expose them.
    let credentials = this.credentials;
    const endpoint = new URL(this.endpoint.url);
    if (credentials && realm.url.protocol !== 'https:') {
      if (endpoint.protocol === 'https:') {
        this.withheld = `the ${realm.name} is plain http while ${endpoint.host} is https: credentials are not sent there`;
        credentials = undefined;
      } else if (realm.url.origin !== endpoint.origin) {
        this.withheld = `the ${realm.name} is plain http on another host than ${endpoint.host}: credentials are not sent there`;
        credentials = undefined;
      }
    }
    this.token = await this.fetchToken(challenge, realm, credentials, path, signal);
    return true;
  }

  /**
   * A 401 from a host a redirect led to (a blob store): the credentials never go there, nor
   * to a realm it names. An anonymous bearer token is safe to ask for; it is sent to that
   * origin only, as the endpoint's token never is.
   */
  private async authenticateRedirected(challenge: Challenge | undefined, origin: string, path: string, signal?: AbortSignal): Promise<boolean> {
    const refuse = (why: string): RegistryError =>
      new RegistryError('UNAUTHENTICATED', `${this.describe(path)}: redirected to ${new URL(origin).host}, which asks for authentication: credentials are not sent to a host a redirect leads to; ${why}`, false);
    if (challenge?.scheme !== 'bearer') throw refuse('it asks for no bearer token');
    if (this.redirectTokens.has(origin)) throw refuse('it refused the anonymous token it gave');
    const realm = this.realmOf(challenge, path);
    if (!realm) throw refuse('its challenge names no token realm');
    try {
      this.redirectTokens.set(origin, await this.fetchToken(challenge, realm, undefined, path, signal));
    } catch (err) {
      if (err instanceof RegistryError && !err.transient) throw refuse(`an anonymous token was refused: ${err.message}`);
      throw err;
    }
    return true;
  }

  private realmOf(challenge: Challenge, path: string): { url: URL; name: string } | undefined {
    const realm = challenge.params.realm;
    if (!realm) return undefined;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError('UNAUTHENTICATED', `${this.describe(path)}: the token realm ${JSON.stringify(realm)} is not a URL`, false);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryError('UNAUTHENTICATED', `${this.describe(path)}: the token realm ${url.origin} is not http(s)`, false);
    }
    return { url, name: `token server ${url.origin}${url.pathname}` };
  }

  /** A bearer token from `realm`, asked for with `credentials` or anonymously. */
  private async fetchToken(challenge: Challenge, realm: { url: URL; name: string }, credentials: RegistryCredentials | undefined, path: string, signal?: AbortSignal): Promise<string> {
    const url = new URL(realm.url);
    const realmName = realm.name;
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? `repository:${this.repository}:pull`);
    const headers: Record<string, string> = { 'user-agent': 'coracle' };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (credentials?.identityToken) {
      method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        service: challenge.params.service ?? '',
        scope: url.searchParams.get('scope')!,
        client_id: 'coracle',
      }).toString();
    } else {
      const basic = credentials ? basicHeader(credentials) : undefined;
      if (basic) headers.authorization = basic;
    }
    const tokenRes = await sendRequest(this.agents, method === 'POST' ? `${url.origin}${url.pathname}` : url.toString(), {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      headersTimeoutMs: this.options.headersTimeoutMs,
      progressTimeoutMs: this.options.progressTimeoutMs,
      ...(signal ? { signal } : {}),
    });
    if (tokenRes.statusCode !== 200) {
      await discard(tokenRes);
      throw new RegistryError(
        tokenRes.statusCode === 401 || tokenRes.statusCode === 403 ? 'UNAUTHENTICATED' : 'UNAVAILABLE',
        `${this.describe(path)}: ${realmName} answered ${tokenRes.statusCode}${credentials === undefined && this.withheld ? ` (${this.withheld})` : ''}`,
        tokenRes.statusCode >= 500,
      );
    }
    const reply = await readLimited(tokenRes.body, MAX_TOKEN_REPLY_BYTES, `${this.describe(path)}: ${realmName}: reply`);
    let doc: { token?: unknown; access_token?: unknown } | null;
    try {
      doc = JSON.parse(reply.toString('utf8')) as typeof doc;
    } catch {
      doc = null;
    }
    const token = doc?.token ?? doc?.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError('UNAVAILABLE', `${this.describe(path)}: ${realmName} gave no token`, false);
    }
    return token;
  }

  /** GET with authentication and retries; returns a 200 response or throws. */
  async get(path: string, accept: string | undefined, what: string, signal?: AbortSignal): Promise<HttpResponse> {
    let lastError: RegistryError | undefined;
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      if (attempt > 1) await sleep(250 * 4 ** (attempt - 2));
      let res: HttpResponse;
      try {
        let reply = await this.once(path, accept, signal);
        if (reply.res.statusCode === 401) {
          const challenged = reply.res;
          let answered: boolean;
          try {
            answered = await this.authenticate(challenged, reply.url, path, signal);
          } catch (err) {
            await discard(challenged);
            throw err;
          }
          if (answered) {
            await discard(challenged);
            reply = await this.once(path, accept, signal);
          }
        }
        res = reply.res;
      } catch (err) {
        if (err instanceof RegistryError) {
          if (!err.transient) throw err;
          lastError = err;
          continue;
        }
        if (signal?.aborted) throw new CoracleError('CANCELLED', `${what}: cancelled`);
        lastError = new RegistryError('UNAVAILABLE', `${this.describe(path)}: ${messageOf(err)}`, true);
        continue;
      }
      if (res.statusCode === 200) return res;
      await discard(res);
      const status = res.statusCode;
      const message = `${this.describe(path)}: HTTP ${status}`;
      if (status === 404) throw new RegistryError('NOT_FOUND', `${message} (not found)`, false);
      if (status === 401) {
        const why = this.credentials ? 'refused' : `required${this.withheld ? `; ${this.withheld}` : ''}`;
        throw new RegistryError('UNAUTHENTICATED', `${message} (authentication ${why})`, false);
      }
      if (status === 403) throw new RegistryError('PERMISSION_DENIED', `${message} (access denied)`, false);
      if (status === 429 || status >= 500) {
        lastError = new RegistryError('UNAVAILABLE', message, true);
        continue;
      }
      throw new RegistryError('FAILED_PRECONDITION', message, false);
    }
    throw lastError!;
  }

  /** A manifest by tag or digest; by digest, the content is checked against it. */
  async manifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    const res = await this.get(`manifests/${reference}`, MANIFEST_ACCEPT, what, signal);
    const body = await readLimited(res.body, MAX_MANIFEST_BYTES, `${this.describe(`manifests/${reference}`)}`);
    const digest = sha256Digest(body);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError('DATA_LOSS', `${this.describe(`manifests/${reference}`)}: content has digest ${digest}`, false);
    }
    const type = res.headers['content-type'];
    return { digest, mediaType: typeof type === 'string' ? type.split(';')[0]!.trim() : undefined, body };
  }

  /** A blob's bytes as they arrive; the content store checks them. */
  async blob(digest: string, signal?: AbortSignal): Promise<AsyncIterable<Buffer>> {
    const res = await this.get(`blobs/${digest}`, undefined, `blob ${digest}`, signal);
    const where = this.describe(`blobs/${digest}`);
    const progressSeconds = this.options.progressTimeoutMs / 1000;
    return (async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of res.body) yield chunk as Buffer;
      } catch (err) {
        if ((err as { code?: string }).code === 'BODY_TIMEOUT') {
          throw new RegistryError('UNAVAILABLE', `${where}: no data for ${progressSeconds} s: pull progress timeout`, true);
        }
        if (signal?.aborted) throw new CoracleError('CANCELLED', `${where}: cancelled`);
        throw new RegistryError('UNAVAILABLE', `${where}: ${messageOf(err)}`, true);
      }
    })();
  }
}

function readLimited(body: HttpResponse['body'], limit: number, what: string): Promise<Buffer> {
  return readStreamCapped(body, limit, () => new RegistryError('FAILED_PRECONDITION', `${what}: larger than ${limit} bytes`, false));
}

/** Makes repository clients over one shared pool of connections, made at the first request. */
export class RegistryClient {
  private agents: HttpAgents | undefined;

  constructor(private readonly options: RegistryClientOptions) {}

  repository(endpoint: Endpoint, repository: string, credentials: RegistryCredentials | undefined): RegistryRepository {
    this.agents ??= httpAgents(16);
    return new RegistryRepository(endpoint, repository, credentials, this.agents, this.options);
  }

  close(): Promise<void> {
    if (this.agents) closeAgents(this.agents);
    return Promise.resolve();
  }
}
