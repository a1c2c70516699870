import { randomBytes } from 'node:crypto';
import { CoracleError } from '../errors.js';

const TOKEN_BYTES = 16;

/**
 * Pending streaming requests by token, as kubelet's streaming server keeps them: a token
 * is good for one connection within the TTL, and at most `maxInFlight` wait at once.
 */
export class RequestCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxInFlight = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  insert(value: T): string {
    const now = this.now();
    for (const [token, e] of this.entries) if (e.expires <= now) this.entries.delete(token);
    if (this.entries.size >= this.maxInFlight) throw new CoracleError('RESOURCE_EXHAUSTED', 'maximum number of in-flight streaming requests exceeded');
    let token: string;
    // 128 random bits (kubelet uses 64): a token is the only thing that authorises a connection.
    do token = randomBytes(TOKEN_BYTES).toString('base64url');
    while (this.entries.has(token));
    this.entries.set(token, { value, expires: now + this.ttlMs });
    return token;
  }

  /** Takes the request out; an expired one is taken out too, and not returned. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }
}
