import { CoracleError } from '../errors.js';
import type { CliClient, CliImage } from './cli-client.js';
import { untagImage } from './coracle-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { shortId } from './format.js';

/**
 * docker rmi NAME, as docker decides it. A tag or repo digest is untagged (Coracle's
 * UntagImage), and the image goes with its last name; an image id removes the whole image
 * (CRI's RemoveImage). An image a container uses is refused without `force`, and one a
 * running container uses is never removed, only untagged; the CLI knows the containers from
 * ListContainers. Prints docker's lines: "Untagged: NAME" for each name, "Deleted: ID".
 */
export async function removeImageNamed(socket: DaemonTarget, client: CliClient, name: string, force: boolean): Promise<void> {
  const image = await client.image(name);
  if (!image) throw new CoracleError('NOT_FOUND', `No such image: ${name}`);
  const users = (await client.containers()).filter((c) => c.imageId === image.id);
  const running = users.find((c) => c.state === 'running');
  if (!isIdPrefix(name, image)) {
    if (!force && image.repoTags.length <= 1 && users[0]) {
      throw new CoracleError('FAILED_PRECONDITION', `conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0].id)} is using its referenced image ${shortId(image.id)}`);
    }
    const r = await untagImage(socket, name, running !== undefined);
    print(r.untagged, r.deleted ? r.imageId : undefined);
    return;
  }
  const conflict = (why: string, forced = 'must be forced'): CoracleError => new CoracleError('FAILED_PRECONDITION', `conflict: unable to delete ${shortId(image.id)} (${forced}) - ${why}`);
  if (!force && image.repoTags.length > 1) throw conflict('image is referenced in multiple repositories');
  if (running) throw conflict(`image is being used by running container ${shortId(running.id)}`, 'cannot be forced');
  if (!force && users[0]) throw conflict(`image is being used by stopped container ${shortId(users[0].id)}`);
  await client.removeImage(image.id);
  print([...image.repoTags, ...image.repoDigests], image.id);
}

/** Whether `name` is the image's id or a prefix of it, as docker tells an id from a name. */
function isIdPrefix(name: string, image: CliImage): boolean {
  const hex = name.replace(/^sha256:/, '');
  return /^[0-9a-f]+$/.test(hex) && image.id.replace(/^sha256:/, '').startsWith(hex);
}

function print(untagged: string[], deleted: string | undefined): void {
  process.stdout.write(untagged.map((n) => `Untagged: ${n}\n`).join('') + (deleted ? `Deleted: ${deleted}\n` : ''));
}
