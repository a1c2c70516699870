import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: inspect -f, a Go template over the JSON', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it("reads docker's keys ({{.State.Status}}, {{.Config.Image}}, {{json .X}}), a line a container; a missing field exits 2 naming it", async () => {
    const { cli, image } = t;
    const run = await cli('run', '-d', '--name', 'insp', image, 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    assert.equal((await cli('run', '--name', 'done3', image, 'sh', '-c', 'exit 3')).code, 3);

    const one = await cli('inspect', '-f', '{{.State.Status}} {{.Config.Image}} {{.Name}} {{.Id}}', 'insp');
    assert.deepEqual([one.code, one.stdout], [0, `running ${image} /insp ${id}\n`], one.stderr);
    const state = JSON.parse((await cli('inspect', '--format', '{{json .State}}', 'insp')).stdout) as { Running: boolean; Pid: number; StartedAt: string };
    assert.equal(state.Running, true);
    assert.ok(state.Pid > 0, 'the pid of its process');
    assert.match(state.StartedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const two = await cli('inspect', '-f', '{{.Name}} {{.State.ExitCode}} {{.State.Running}} {{json .Config.Cmd}}', 'insp', 'done3');
    assert.equal(two.stdout, '/insp 0 true ["sleep","300"]\n/done3 3 false ["sh","-c","exit 3"]\n');
    const whole = JSON.parse((await cli('inspect', 'insp')).stdout) as { Id: string; id: string; state: string }[];
    assert.deepEqual([whole[0]!.Id, whole[0]!.id, whole[0]!.state], [id, id, 'running'], "docker's keys and Coracle's own, without -f");

    const missing = await cli('inspect', '-f', '{{.State.Colour}}', 'insp');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--format: \{\{\.State\.Colour\}\}: no field "State\.Colour"/);
    const unclosed = await cli('inspect', '-f', '{{.State', 'insp');
    assert.deepEqual([unclosed.code, /unclosed action/.test(unclosed.stderr)], [2, true], unclosed.stderr);
  });
});
