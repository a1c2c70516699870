import assert from 'node:assert/strict';
import { containerArgs, mergeEnv } from '../../src/oci/process-args.js';

describe('oci/process-args', () => {
  const image = { entrypoint: ['/entry'], cmd: ['--default'] };
  const cases: [string, { command: string[]; args: string[] }, string[]][] = [
    ['neither: entrypoint and cmd', { command: [], args: [] }, ['/entry', '--default']],
    ['args only: entrypoint with the args', { command: [], args: ['x'] }, ['/entry', 'x']],
    ['command only: the image cmd is dropped', { command: ['/bin/sh'], args: [] }, ['/bin/sh']],
    ['both: command with args', { command: ['/bin/sh'], args: ['-c', 'true'] }, ['/bin/sh', '-c', 'true']],
  ];
  for (const [what, container, want] of cases) {
    it(what, () => assert.deepEqual(containerArgs(image, container), want));
  }
  it('container env overrides the image env by name, keeping order', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], [{ key: 'A', value: 'x=y' }, { key: 'C', value: '' }]), ['PATH=/bin', 'A=x=y', 'B=2', 'C=']);
  });
});
