import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: images -q and --format, as docker', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('lists ids once each, a row a name through a template, json with docker\'s keys; an unknown field exits 2 naming it', async () => {
    const { cli, image } = t;
    const v2 = image.replace(/:v1$/, ':v2');
    assert.equal((await cli('pull', image)).code, 0);
    assert.equal((await cli('pull', v2)).code, 0);
    const repo = image.replace(/:v1$/, '');

    const q = await cli('images', '-q');
    assert.match(q.stdout, /^[0-9a-f]{12}\n$/, 'two names of one image: its id once');
    const names = await cli('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}');
    assert.deepEqual(names.stdout.trimEnd().split('\n').sort(), [`${image} ${q.stdout.trim()}`, `${v2} ${q.stdout.trim()}`]);
    const json = (await cli('images', '--format', 'json')).stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    assert.equal(json.length, 2);
    assert.deepEqual(Object.keys(json[0]!), ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize'], "docker's keys");
    assert.equal(json[0]!.Repository, repo);
    assert.match(json[0]!.Digest!, /^sha256:[0-9a-f]{64}$/);
    const tabled = await cli('images', '--format', 'table {{.Tag}}\\t{{.Size}}');
    assert.match(tabled.stdout, /^TAG\s{3,}SIZE\nv[12]\s{3,}\S+B\nv[12]\s{3,}\S+B\n$/);

    const bad = await cli('images', '--format', '{{.Colour}}');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format "\{\{\.Colour\}\}": no field "Colour"; the fields are Repository, Tag/);
  });
});
