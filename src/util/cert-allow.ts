/**
 * Which client certificates the remote listener lets in, beyond the CA's signature: an
 * allow-list of subjects and of subjectAltNames, in the forms `coracle config default`
 * documents. Node checks the signature; this module only says whether a peer it verified
 * is one of the named ones. Written here because Node exposes the peer's names as a
 * display string, and no library matches them against such a list.
 *
 * - A subject entry is `ATTR=value` pairs joined by commas ("CN=admin", "CN=ops,O=Example"),
 *   `\,` and `\\` escaping a comma or a backslash in a value; a certificate matches when its
 *   subject has every pair (other attributes may be there too). Attribute names are as
 *   OpenSSL's short names (CN, O, OU, C, ST, L, emailAddress…), case-sensitive.
 * - A SAN entry is `DNS:name` (case-insensitive, no wildcard matching), `IP:address` (v4
 *   or v6, any spelling), `URI:uri` or `email:address` (both exact); a certificate matches
 *   when one of its subjectAltNames is that one.
 * A certificate matching any entry of either list is allowed.
 */
import { isIP } from 'node:net';

export interface PeerNames {
  /** Node's getPeerCertificate().subject: attribute → value (an array when repeated). */
  subject: Record<string, string | string[]> | undefined;
  /** Node's getPeerCertificate().subjectaltname: "DNS:a, IP Address:1.2.3.4, …". */
  subjectaltname: string | undefined;
}

type SanType = 'DNS' | 'IP' | 'URI' | 'email';
interface San {
  type: SanType;
  value: string;
}

export interface CertAllowList {
  /** Nothing listed: every certificate the CA signed is let in. */
  readonly open: boolean;
  allows(peer: PeerNames): boolean;
}

/** Splits on unescaped commas, unescaping `\,` and `\\`. */
function splitPairs(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) cur += text[++i];
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** An allowed subject as its pairs; throws with what is wrong. */
export function parseSubjectEntry(entry: string): [string, string][] {
  const pairs = splitPairs(entry).map((part): [string, string] => {
    const eq = part.indexOf('=');
    const attr = part.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z][A-Za-z0-9.]*$/.test(attr)) throw new Error(`"${entry}": each part must be ATTR=value, as CN=admin`);
    const value = part.slice(eq + 1).trim();
    if (value === '') throw new Error(`"${entry}": ${attr} has an empty value`);
    return [attr, value];
  });
  return pairs;
}

function normalIp(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 0) return undefined;
  // The URL parser writes an address in one canonical form (v6 compressed, lower case).
  return new URL(`http://${family === 6 ? `[${ip}]` : ip}/`).hostname;
}

/** An allowed SAN; throws with what is wrong. */
export function parseSanEntry(entry: string): San {
  const m = /^(DNS|IP|URI|email):(.+)$/.exec(entry);
  if (!m) throw new Error(`"${entry}": must be DNS:name, IP:address, URI:uri or email:address`);
  const type = m[1] as SanType;
  let value = m[2]!;
  if (type === 'IP') {
    const ip = normalIp(value);
    if (!ip) throw new Error(`"${entry}": not an IP address`);
    value = ip;
  }
  if (type === 'DNS') value = value.toLowerCase();
  return { type, value };
}

/** Node's subjectaltname string as entries; values it JSON-quoted are unquoted. */
export function parsePeerSans(text: string | undefined): San[] {
  const out: San[] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const rawType = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        break; // not Node's format: nothing past here is trusted
      }
      next = j + 1;
    } else {
      const end = text.indexOf(', ', colon + 1);
      next = end < 0 ? text.length : end;
      value = text.slice(colon + 1, next);
    }
    const type = rawType === 'IP Address' ? 'IP' : rawType;
    if (type === 'DNS') out.push({ type, value: value.toLowerCase() });
    else if (type === 'IP') {
      const ip = normalIp(value);
      if (ip) out.push({ type, value: ip });
    } else if (type === 'URI' || type === 'email') out.push({ type, value });
    i = next + 2;
  }
  return out;
}

/** A one-line subject for logs: "CN=admin, O=Example". */
export function describeSubject(subject: PeerNames['subject']): string {
  if (!subject) return '(none)';
  return Object.entries(subject)
    .flatMap(([k, v]) => [v].flat().map((x) => `${k}=${x}`))
    .join(', ');
}

export function certAllowList(subjects: string[], sans: string[]): CertAllowList {
  const subjectEntries = subjects.map(parseSubjectEntry);
  const sanEntries = sans.map(parseSanEntry);
  return {
    open: subjectEntries.length === 0 && sanEntries.length === 0,
    allows(peer) {
      if (this.open) return true;
      const subject = peer.subject;
      const has = (attr: string, value: string): boolean => {
        const v = subject && Object.prototype.hasOwnProperty.call(subject, attr) ? subject[attr] : undefined;
        return v !== undefined && [v].flat().includes(value);
      };
      if (subjectEntries.some((pairs) => pairs.every(([a, v]) => has(a, v)))) return true;
      const peerSans = parsePeerSans(peer.subjectaltname);
      return sanEntries.some((e) => peerSans.some((p) => p.type === e.type && p.value === e.value));
    },
  };
}
