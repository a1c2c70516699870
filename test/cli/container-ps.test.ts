import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: ps --filter, -n and --format, as docker', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('filters AND across keys and OR within one, lists the last n, formats as table, json or a template; bad values exit 2 naming the flag', async () => {
    const { cli, image } = t;
    const web = await cli('run', '-d', '--name', 'web-1', image, 'sleep', '300');
    assert.equal(web.code, 0, web.stderr);
    assert.equal((await cli('run', '--name', 'job-ok', image, 'true')).code, 0);
    assert.equal((await cli('run', '--name', 'job-bad', image, 'sh', '-c', 'exit 3')).code, 3);
    const names = async (...args: string[]): Promise<string[]> => {
      const r = await cli('ps', ...args, '--format', '{{.Names}}');
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };

    assert.deepEqual(await names('--filter', 'name=job'), [], 'without -a only running ones, as docker');
    assert.deepEqual(await names('-a', '--filter', 'name=job'), ['job-bad', 'job-ok'], 'newest first');
    assert.deepEqual(await names('-a', '-f', 'name=^web'), ['web-1'], 'a regular expression');
    assert.deepEqual(await names('--filter', 'status=exited'), ['job-bad', 'job-ok'], 'a status filter looks at all, as docker');
    assert.deepEqual(await names('--filter', 'status=running', '--filter', 'status=exited'), ['job-bad', 'job-ok', 'web-1'], 'OR within a key');
    assert.deepEqual(await names('-a', '--filter', 'name=job', '--filter', 'exited=0'), ['job-ok'], 'AND across keys');
    assert.deepEqual(await names('--filter', 'exited=3'), ['job-bad']);
    assert.deepEqual(await names('-a', '--filter', 'label=io.coracle.cli.name=web-1'), ['web-1']);
    assert.deepEqual(await names('-a', '--filter', `ancestor=${image}`), ['job-bad', 'job-ok', 'web-1']);
    assert.deepEqual(await names('-a', '--filter', 'ancestor=no/such:image'), []);
    assert.deepEqual(await names('-a', '--filter', 'id=^0000000000'), []);
    assert.deepEqual(await names('-n', '2'), ['job-bad', 'job-ok'], 'the last 2 made, in any state');
    assert.deepEqual(await names('-n', '0'), []);

    const q = await cli('ps', '-a', '-q', '--filter', 'exited=3');
    assert.match(q.stdout, /^[0-9a-f]{12}\n$/);

    const json = await cli('ps', '--format', 'json');
    const lines = json.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1, json.stdout);
    const row = JSON.parse(lines[0]!) as Record<string, string>;
    assert.deepEqual(Object.keys(row), ['Command', 'CreatedAt', 'ID', 'Image', 'Labels', 'LocalVolumes', 'Mounts', 'Names', 'Networks', 'Ports', 'RunningFor', 'Size', 'State', 'Status'], "docker's keys");
    assert.deepEqual([row.ID, row.Image, row.Names, row.State, row.Command], [web.stdout.trim().slice(0, 12), image, 'web-1', 'running', '"sleep 300"']);
    assert.match(row.Status!, /^Up /);
    assert.match(row.CreatedAt!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    assert.match(row.Labels!, /io\.coracle\.cli\.name=web-1/);

    const tabled = await cli('ps', '-a', '--format', 'table {{.Names}}\\t{{.State}}\\t{{.ID}}');
    const [header, ...rows] = tabled.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAMES\s{3,}STATE\s{3,}CONTAINER ID$/);
    assert.match(rows[0]!, /^job-bad\s{3,}exited\s{3,}[0-9a-f]{12}$/);
    assert.equal(rows.length, 3);
    const plain = await cli('ps', '--format', '{{.Names}}: {{.Status}}');
    assert.match(plain.stdout, /^web-1: Up .*\n$/, 'a bare template: no header');
    assert.match((await cli('ps', '--format', 'table')).stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);

    const unknown = await cli('ps', '--format', '{{.Names}} {{.Colour}}');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--format "\{\{\.Names\}\} \{\{\.Colour\}\}": no field "Colour"/);
    const badFilter = await cli('ps', '--filter', 'colour=red');
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /option '-f, --filter <key=value>' argument 'colour=red' is invalid/);
    const badStatus = await cli('ps', '-f', 'status=asleep');
    assert.deepEqual([badStatus.code, /--filter <key=value>' argument 'status=asleep'/.test(badStatus.stderr)], [2, true], badStatus.stderr);
    const badLast = await cli('ps', '-n', 'two');
    assert.deepEqual([badLast.code, /option '-n, --last <n>' argument 'two' is invalid/.test(badLast.stderr)], [2, true], badLast.stderr);
    const badAction = await cli('ps', '--format', '{{range .Names}}x{{end}}');
    assert.deepEqual([badAction.code, /is not supported/.test(badAction.stderr)], [2, true], badAction.stderr);
  });
});
