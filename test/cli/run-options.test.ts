import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { ExitStatusError } from '../../src/cli/exit-status.js';
import { collect, parseEnv, parsePort, parseVolume, processArgs } from '../../src/cli/run-options.js';

describe('cli: run options (-e, -v, -p) as docker reads them', () => {
  const invalid = (message: string) => (err: unknown): boolean => err instanceof CoracleError && err.code === 'INVALID_ARGUMENT' && err.message === message;

  it('collects repeated options in order', () => {
    assert.deepEqual(collect('b', collect('a')), ['a', 'b']);
  });

  it('-e KEY=VALUE as given (the value may hold "="); -e NAME takes the client\'s own value', () => {
    process.env.CORACLE_RUN_OPTIONS_TEST = 'from the client';
    try {
      assert.deepEqual(parseEnv(['A=1', 'B=x=y', 'C=', 'CORACLE_RUN_OPTIONS_TEST', 'CORACLE_RUN_OPTIONS_UNSET']), [
        { key: 'A', value: '1' },
        { key: 'B', value: 'x=y' },
        { key: 'C', value: '' },
        { key: 'CORACLE_RUN_OPTIONS_TEST', value: 'from the client' },
        { key: 'CORACLE_RUN_OPTIONS_UNSET', value: '' },
      ]);
    } finally {
      delete process.env.CORACLE_RUN_OPTIONS_TEST;
    }
  });

  it('-v /host:/container[:ro|rw]; anything else is refused with the expected form', () => {
    assert.deepEqual(parseVolume('/h:/c'), { hostPath: '/h', containerPath: '/c', readonly: false });
    assert.deepEqual(parseVolume('/h:/c:rw'), { hostPath: '/h', containerPath: '/c', readonly: false });
    assert.deepEqual(parseVolume('/h:/c:ro'), { hostPath: '/h', containerPath: '/c', readonly: true });
    for (const bad of ['bad', 'h:/c', '/h:c', '/h:/c:rx']) {
      assert.throws(() => parseVolume(bad), invalid(`invalid volume "${bad}": expected /host/path:/container/path[:ro|rw]`));
    }
  });

  it('-p [ip:]host:container[/tcp|udp]; ports out of 1-65535 and other forms are refused', () => {
    assert.deepEqual(parsePort('8080:80'), { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'TCP' });
    assert.deepEqual(parsePort('127.0.0.1:53:53/udp'), { hostIp: '127.0.0.1', hostPort: 53, containerPort: 53, protocol: 'UDP' });
    assert.deepEqual(parsePort('1:65535/tcp'), { hostIp: '', hostPort: 1, containerPort: 65535, protocol: 'TCP' });
    for (const bad of ['99999:1', '0:80', '80', '80:80/sctp', 'host:80:80']) {
      assert.throws(() => parsePort(bad), invalid(`invalid port mapping "${bad}": expected [ip:]hostPort:containerPort[/tcp|udp]`));
    }
  });

  it("the arguments are CRI args (the image's Cmd replaced); --entrypoint is CRI command; '' clears it", () => {
    assert.deepEqual(processArgs(undefined, []), { command: [], args: [] });
    assert.deepEqual(processArgs(undefined, ['https://x', '-v']), { command: [], args: ['https://x', '-v'] });
    assert.deepEqual(processArgs('sh', ['-c', 'echo hi']), { command: ['sh'], args: ['-c', 'echo hi'] });
    assert.deepEqual(processArgs('/bin/two words', []), { command: ['/bin/two words'], args: [] }, 'one element, as docker: not split');
    assert.deepEqual(processArgs('', ['echo', 'hi']), { command: ['echo', 'hi'], args: [] });
    assert.throws(() => processArgs('', []), (err: unknown) => err instanceof ExitStatusError && err.exitStatus === 125 && /^no command specified/.test(err.message));
  });
});
