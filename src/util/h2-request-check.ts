/** Whether an HTTP/2 request's header list is well-formed (RFC 9113 8.2-8.3), for the server (h2-connection.ts). */
import type { HeaderField } from './h2-stream.js';

/** Headers a request must not carry (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':path', ':authority']);

/** Why a request's header list is malformed (RFC 9113 8.2-8.3), if it is. */
export function malformed(fields: readonly HeaderField[]): string | undefined {
  let regular = false;
  const pseudo = new Set<string>();
  for (const { name, value } of fields) {
    if (/[A-Z]/.test(name)) return `header name ${JSON.stringify(name)} is not lower-case`;
    if (name.startsWith(':')) {
      if (regular) return `pseudo-header ${name} after a regular header`;
      if (!REQUEST_PSEUDO.has(name) || pseudo.has(name)) return `pseudo-header ${name} not allowed here`;
      pseudo.add(name);
    } else {
      regular = true;
      if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
      if (name === 'te' && value !== 'trailers') return `te: ${value}`;
    }
  }
  for (const p of [':method', ':scheme', ':path']) if (!pseudo.has(p)) return `no ${p}`;
  return undefined;
}
