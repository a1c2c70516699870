import { createHash } from 'node:crypto';
import { CoracleError } from '../errors.js';

/** Content digests: only sha256, the one algorithm registries and images use in practice. */
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

/** The hex part of a digest, for file names. Throws on anything but a sha256 digest. */
export function digestHex(digest: string, what = 'digest'): string {
  if (!DIGEST.test(digest)) {
    throw new CoracleError('FAILED_PRECONDITION', `${what} "${digest}": not a sha256 digest`);
  }
  return digest.slice(7);
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** OCI chain IDs: the identity of a layer together with everything below it. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : sha256Digest(`${prev} ${diffId}`));
  }
  return out;
}
