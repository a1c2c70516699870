import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

/** Parses `10.88.0.0/16` or `fd00::/64`; returns an error message instead of throwing. */
export function parseCidr(text: string): Cidr | string {
  if (text.length > 64) return `a ${text.length}-character string is not a CIDR`;
  const slash = text.indexOf('/');
  if (slash < 0) return `"${text}" is not a CIDR (no /prefix)`;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return `"${text}": "${address}" is not an IP address`;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return `"${text}": prefix must be 0 to ${max}`;
  }
  return { family, address, prefix: Number(prefixText) };
}
