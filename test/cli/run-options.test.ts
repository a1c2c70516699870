import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { ExitStatusError } from '../../src/cli/exit-status.js';
import { collect, MIN_MEMORY, parseCpus, parseEnv, parseLabel, parseMemory, parseNetwork, parsePort, parseUser, parseVolume, processArgs } from '../../src/cli/run-options.js';

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

  it("reads --memory in docker's units (b k m g, powers of 1024), refusing less than 6m", () => {
    assert.equal(parseMemory('6m'), MIN_MEMORY);
    assert.equal(parseMemory('64M'), 64 * 1024 ** 2);
    assert.equal(parseMemory('1g'), 1024 ** 3);
    assert.equal(parseMemory('1.5g'), 1.5 * 1024 ** 3);
    assert.equal(parseMemory('8192k'), 8 * 1024 ** 2);
    assert.equal(parseMemory(String(MIN_MEMORY)), MIN_MEMORY);
    assert.equal(parseMemory('7mb'), 7 * 1024 ** 2);
    assert.throws(() => parseMemory('5m'), invalid('invalid memory "5m": the minimum is 6m'));
    for (const bad of ['', 'm', '1t', '-8m', '1e9', '0x10m']) assert.throws(() => parseMemory(bad), /invalid memory/, bad);
  });

  it('reads --cpus as a decimal of at least 0.01; -u as name, uid, uid:gid or name:gid; -l as key=value; --network', () => {
    assert.deepEqual(['1.5', '.5', '0.01', '2'].map(parseCpus), [1.5, 0.5, 0.01, 2]);
    for (const bad of ['0', '0.001', '-1', '1/2', 'one', '']) assert.throws(() => parseCpus(bad), /invalid cpus/, bad);
    assert.deepEqual(parseUser('1000'), { uid: 1000 });
    assert.deepEqual(parseUser('1000:50'), { uid: 1000, gid: 50 });
    assert.deepEqual(parseUser('www-data'), { name: 'www-data' });
    assert.deepEqual(parseUser('www-data:33'), { name: 'www-data', gid: 33 });
    for (const bad of ['', 'a b', '1000:staff', ':1', '1:2:3']) assert.throws(() => parseUser(bad), /invalid user/, bad);
    assert.deepEqual(parseLabel('a=b=c'), ['a', 'b=c']);
    assert.deepEqual(parseLabel('bare'), ['bare', '']);
    assert.throws(() => parseLabel('=v'), /invalid label/);
    assert.deepEqual(['host', 'none', 'bridge', 'default'].map(parseNetwork), ['host', 'none', 'default', 'default']);
    assert.throws(() => parseNetwork('overlay'), /invalid network "overlay"/);
  });
});
