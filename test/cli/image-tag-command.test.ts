import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: tag', function () {
  this.timeout(180_000);
  const t = cliSuite({ 'cli/other:v1': { config: { Env: ['PATH=/bin'], Cmd: ['echo', 'other'] } } });

  const status = async (name: string): Promise<{ id: string; repo_tags: string[] } | null> => (await t.d.clients.image.ImageStatus({ image: { image: name } })).image;

  it('gives an image another name by tag or id prefix (":latest" when none); a tag another image had moves; the new name runs', async () => {
    const { cli, image, images } = t;
    const other = images['cli/other:v1']!;
    assert.equal((await cli('pull', image)).code, 0);
    assert.equal((await cli('pull', other)).code, 0);
    const id = (await status(image))!.id;
    assert.deepEqual(await cli('tag', image, 'mine:x'), { code: 0, stdout: '', stderr: '' });
    assert.equal((await status('mine:x'))?.id, id);
    assert.equal((await cli('tag', id.slice(7, 19), 'example.test/team/mine')).code, 0);
    assert.deepEqual((await status(image))!.repo_tags.sort(), [image, 'docker.io/library/mine:x', 'example.test/team/mine:latest'].sort());
    // The tag moves to the other image; the first keeps its other names.
    assert.equal((await cli('tag', other, 'mine:x')).code, 0);
    assert.equal((await status('mine:x'))?.id, (await status(other))!.id);
    assert.deepEqual((await status(image))!.repo_tags.sort(), [image, 'example.test/team/mine:latest'].sort());
    // Found here by its new name: no pull (the name's registry is nowhere).
    const run = await cli('run', '--name', 'tagged', 'mine:x');
    assert.deepEqual([run.code, run.stdout], [0, 'other\n'], run.stderr);
    assert.match((await cli('images')).stdout, /\n(docker\.io\/library\/)?mine\s+x\s/);
  });

  it('an unknown source or a bad target is an error (exit 1) that names nothing new; a missing operand is a usage error', async () => {
    const { cli, image, d } = t;
    assert.equal((await cli('pull', image)).code, 0);
    const before = (await d.clients.image.ListImages({})).images;
    const nosuch = await cli('tag', 'nosuch', 'mine:x');
    assert.deepEqual([nosuch.code, nosuch.stderr], [1, 'coracle: image nosuch: no such image\n']);
    for (const bad of ['UPPER:x', 'mine:x@sha256:' + 'a'.repeat(64), 'a:b:c']) {
      const r = await cli('tag', image, bad);
      assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^coracle: tag ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    }
    const missing = await cli('tag', image);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'target'/);
    assert.deepEqual((await d.clients.image.ListImages({})).images, before);
  });
});
