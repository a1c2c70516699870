import assert from 'node:assert/strict';
import { ExitStatusError } from '../../src/cli/exit-status.js';
import { goText, parseTemplate, renderTemplate } from '../../src/cli/go-template.js';

/** The usage error (exit 2) `f` throws, its message. */
function usage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ExitStatusError, String(err));
    assert.equal(err.exitStatus, 2);
    return err.message;
  }
  assert.fail('no usage error');
}

describe('cli: the Go-template subset of --format', () => {
  const value = { ID: 'abc', State: { Status: 'running', Pid: 42, Running: true }, Labels: { b: '2', a: '1' }, Args: ['-c', 'x'], Nil: null };
  const render = (t: string): string => renderTemplate(parseTemplate(t, '--format'), value, '--format');

  it('fills {{.Field}}, {{.A.B}}, {{ .X }}, {{json .X}} and {{.}}, text kept as written', () => {
    assert.equal(render('id={{.ID}} {{ .State.Status }}/{{.State.Pid}} {{.State.Running}}'), 'id=abc running/42 true');
    assert.equal(render('{{json .Labels}}|{{json .Args}}|{{json .State.Pid}}'), '{"b":"2","a":"1"}|["-c","x"]|42');
    assert.equal(render('{{.Labels}} {{.Args}} {{.Nil}}'), 'map[a:1 b:2] [-c x] <nil>', "Go's %v");
    assert.equal(JSON.parse(render('{{json .}}')).ID, 'abc');
    assert.equal(render('no placeholders'), 'no placeholders');
    assert.equal(render('a {{- .ID -}} b'), 'aabcb', "{{- -}} trims the spaces around, as Go's");
    assert.equal(goText(['x', { k: [1] }]), '[x map[k:[1]]]');
  });

  it('refuses a missing field, an unclosed action and what it does not implement, naming them (exit 2)', () => {
    assert.match(usage(() => render('{{.Nope}}')), /--format: \{\{\.Nope\}\}: no field "Nope"/);
    assert.match(usage(() => render('{{.State.Nope}}')), /no field "State\.Nope"/);
    assert.match(usage(() => render('{{.ID.Deeper}}')), /no field "ID\.Deeper"/, 'a string has no fields');
    assert.match(usage(() => parseTemplate('{{.ID', '--format')), /--format "\{\{\.ID": unclosed action/);
    for (const t of ['{{range .Args}}x{{end}}', '{{if .ID}}y{{end}}', '{{.ID | upper}}', '{{upper .ID}}', '{{}}']) {
      assert.match(usage(() => parseTemplate(t, '-f')), /^-f .* is not supported/, t);
    }
    assert.match(usage(() => parseTemplate('x'.repeat(5000), '--format')), /longer than 4096/);
  });
});
