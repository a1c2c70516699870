import assert from 'node:assert/strict';
import { execOverridesOf } from '../../src/cri/exec-metadata.js';
import { CoracleError } from '../../src/errors.js';

describe("cri: the CLI's exec metadata (-e, -u, -w, -d)", () => {
  it('reads the overrides, none without the header', () => {
    assert.equal(execOverridesOf(undefined, 'x'), undefined);
    assert.deepEqual(execOverridesOf('{"env":["A=1","B="],"user":"app:1000","workdir":"/tmp","detach":true}', 'x'), { env: ['A=1', 'B='], user: 'app:1000', workdir: '/tmp', detach: true });
    assert.deepEqual(execOverridesOf('{}', 'x'), {});
  });

  it('refuses what is not one, as INVALID_ARGUMENT naming the exec and the field', () => {
    const bad: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['[]', /not an object/],
      ['{"env":"A=1"}', /env:/],
      ['{"env":["NOEQUALS"]}', /env:/],
      [`{"env":${JSON.stringify(Array.from({ length: 1025 }, (_, i) => `K${i}=v`))}}`, /env: at most 1024/],
      ['{"user":"a:b:c"}', /user:/],
      ['{"user":5}', /user:/],
      ['{"workdir":"rel"}', /workdir:/],
      ['{"detach":"yes"}', /detach:/],
      [`{"env":["A=${'x'.repeat(70_000)}"]}`, /longer than 65536/],
    ];
    for (const [header, message] of bad) {
      assert.throws(() => execOverridesOf(header, 'container c1: exec'), (err: unknown) => err instanceof CoracleError && err.code === 'INVALID_ARGUMENT' && /^container c1: exec: coracle-exec-overrides: /.test(err.message) && message.test(err.message), header.slice(0, 40));
    }
  });
});
