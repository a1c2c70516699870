/**
 * The CRI form of image and container records, converted once per record (identityMemo) and
 * shared by the calls that answer with it, so that the encoder remembers one set of bytes per
 * record (proto.ts). `prepare*` does that work when a record is made, before the call that
 * made it returns: kubelet (and critest) ask ImageStatus right after a pull and
 * ContainerStatus right after a start, and that call then only copies bytes.
 */
import type { ContainerRecord } from '../container/container-store.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { toCriContainerStatus } from './container-convert.js';
import { identityMemo } from './identity-memo.js';
import { toCriImage } from './image-convert.js';
import { encodeAhead } from './proto.js';

/** An image as ImageStatus and ListImages give it. */
export const criImage = identityMemo(toCriImage);
/** A container as ContainerStatus gives it. */
export const criContainerStatus = identityMemo(toCriContainerStatus);
/** ContainerStatus's verbose info: the record as JSON. */
export const containerInfo = identityMemo((c: ContainerRecord) => ({ info: JSON.stringify(c) }));

export function prepareImage(image: ImageRecord): void {
  encodeAhead('runtime.v1.Image', criImage(image));
}

export function prepareContainerStatus(c: ContainerRecord): void {
  encodeAhead('runtime.v1.ContainerStatus', criContainerStatus(c));
  containerInfo(c);
}

/**
 * Runs a prepare after the call's work is done: its failure is logged, never the call's (a
 * started container or a pulled image is not undone for an answer made ahead of time).
 */
export async function prepared(prepare: () => unknown, log: Logger): Promise<void> {
  try {
    await prepare();
  } catch (err) {
    log.warn('status answer not prepared ahead', { error: messageOf(err) });
  }
}
