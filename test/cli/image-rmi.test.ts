import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: rmi as docker decides it: unknown names, one tag of several, images in use', function () {
  this.timeout(180_000);
  const t = cliSuite();

  const status = async (name: string): Promise<{ id: string; repo_tags: string[]; repo_digests: string[] } | null> => (await t.d.clients.image.ImageStatus({ image: { image: name } })).image;
  const short = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

  it('an unknown name is an error; a tag of several is untagged, the last takes the image; an id with several tags wants -f', async () => {
    const { d, cli, image: v1 } = t;
    const v2 = v1.replace(/:v1$/, ':v2');
    assert.equal((await cli('pull', v1)).code, 0);
    assert.equal((await cli('pull', v2)).code, 0);
    const id = (await status(v1))!.id;
    assert.deepEqual((await status(v2))!.repo_tags.sort(), [v1, v2]);

    const nosuch = await cli('rmi', 'nosuch');
    assert.deepEqual([nosuch.code, nosuch.stdout, nosuch.stderr], [1, '', 'coracle: No such image: nosuch\n']);

    const one = await cli('rmi', v2);
    assert.deepEqual([one.code, one.stdout], [0, `Untagged: ${v2}\n`], one.stderr);
    const left = (await status(v1))!;
    assert.deepEqual([left.id, left.repo_tags], [id, [v1]], 'the image stays, with its other tag');
    assert.equal(left.repo_digests.length, 1, 'and its repo digest: a tag of its repository is left');
    assert.equal(await status(v2), null);
    assert.match((await cli('images')).stdout, /cli\/busybox\s+v1\s/);

    // The last tag: its repository's digest goes with it, then the image.
    const last = await cli('rmi', 'nosuch', v1);
    assert.equal(last.code, 1, 'the unknown name fails the command, the other is still removed');
    assert.equal(last.stderr, 'coracle: No such image: nosuch\n');
    assert.equal(last.stdout, `Untagged: ${v1}\nUntagged: ${left.repo_digests[0]}\nDeleted: ${id}\n`);
    assert.equal(await status(id), null);
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);

    // By id: every name goes, but only with -f when there are several.
    await cli('pull', v1);
    await cli('pull', v2);
    const several = await cli('rmi', short(id));
    assert.deepEqual([several.code, several.stderr], [1, `coracle: conflict: unable to delete ${short(id)} (must be forced) - image is referenced in multiple repositories\n`]);
    const forced = await cli('rmi', '-f', short(id));
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`^Untagged: .*:v[12]\\nUntagged: .*:v[12]\\nUntagged: .*@sha256:[0-9a-f]{64}\\nDeleted: ${id}\\n$`));
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);

    // A repo digest is a name too: taken alone, the tag stays.
    await cli('pull', v1);
    const digest = (await status(v1))!.repo_digests[0]!;
    const byDigest = await cli('rmi', digest);
    assert.deepEqual([byDigest.code, byDigest.stdout], [0, `Untagged: ${digest}\n`], byDigest.stderr);
    assert.deepEqual([(await status(v1))?.repo_tags, (await status(v1))?.repo_digests], [[v1], []]);

    // kubelet's RemoveImage is as it was: the whole image, by any of its names.
    await cli('pull', v1);
    await cli('pull', v2);
    await d.clients.image.RemoveImage({ image: { image: v2 } });
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);
  });

  it('an image a container uses: refused without -f, never deleted under a running one, and the container kept', async () => {
    const { cli, image: v1 } = t;
    const v2 = v1.replace(/:v1$/, ':v2');
    await cli('pull', v2);
    assert.equal((await cli('run', '-d', '--name', 'user', v1, 'sleep', '300')).code, 0);
    const id = (await status(v1))!.id;
    const containers = async (): Promise<string[]> => (await t.cliCri.runtime.ListContainers({})).containers.map((c) => `${c.id}:${c.state}`);
    const running = await containers();
    const user = running[0]!.split(':')[0]!;

    // One of two tags: docker just untags, in use or not.
    assert.equal((await cli('rmi', v2)).stdout, `Untagged: ${v2}\n`);
    const lastTag = await cli('rmi', v1);
    assert.deepEqual([lastTag.code, lastTag.stderr], [1, `coracle: conflict: unable to remove repository reference "${v1}" (must force) - container ${short(user)} is using its referenced image ${short(id)}\n`]);
    const byId = await cli('rmi', '-f', id);
    assert.deepEqual([byId.code, byId.stderr], [1, `coracle: conflict: unable to delete ${short(id)} (cannot be forced) - image is being used by running container ${short(user)}\n`]);
    assert.deepEqual((await status(v1))?.id, id, 'still there, still tagged');

    // -f on the last tag of a running container's image: untagged, the image kept, nameless.
    const untagged = await cli('rmi', '-f', v1);
    assert.equal(untagged.code, 0, untagged.stderr);
    assert.match(untagged.stdout, new RegExp(`^Untagged: ${v1.replace(/[.]/g, '\\.')}\\nUntagged: .*@sha256:[0-9a-f]{64}\\n$`));
    assert.deepEqual((await status(id))?.repo_tags, []);
    assert.match((await cli('images')).stdout, new RegExp(`<none>\\s+<none>\\s+${short(id)}`));
    assert.deepEqual(await containers(), running, 'the container runs on');

    // Stopped, it still holds the image until -f.
    assert.equal((await cli('stop', '-t', '0', 'user')).code, 0);
    const stopped = await cli('rmi', short(id));
    assert.deepEqual([stopped.code, stopped.stderr], [1, `coracle: conflict: unable to delete ${short(id)} (must be forced) - image is being used by stopped container ${short(user)}\n`]);
    const gone = await cli('rmi', '-f', short(id));
    assert.deepEqual([gone.code, gone.stdout], [0, `Deleted: ${id}\n`], gone.stderr);
    assert.equal(await status(id), null);
    assert.deepEqual((await t.cliCri.runtime.ListContainers({})).containers.map((c) => c.id), [user], 'the container is still there');
    assert.equal((await cli('rm', 'user')).code, 0);
  });
});
