import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { DEFAULT_CONFIG_TOML } from '../../src/config/defaults.js';
import { ConfigError, defaultConfig, loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/daemon.js';

async function configFile(text: string): Promise<string> {
  const path = join(await tempDir(), 'coracle.toml');
  await writeFile(path, text);
  return path;
}

async function problems(text: string, overrides = {}): Promise<string[]> {
  const path = await configFile(text);
  try {
    await loadConfig(path, overrides);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => p.replace(path, 'FILE'));
  }
  assert.fail('expected a ConfigError');
}

describe('config/load', () => {
  it('the embedded defaults are valid TOML that passes the schema', () => {
    const c = defaultConfig();
    assert.equal(c.root, '/var/lib/coracle');
    assert.equal(c.state, '/run/coracle');
    assert.equal(c.grpc.socket, '/run/coracle/coracle.sock');
    assert.equal(c.grpc.max_recv_message_size, 16 * 1024 * 1024);
    assert.equal(c.grpc.max_send_message_size, 16 * 1024 * 1024);
    assert.equal(c.runtime.default_handler, 'runc');
    assert.deepEqual(Object.keys(c.runtime.handlers).sort(), ['crun', 'runc']);
    assert.deepEqual(c.cni.bin_dirs, ['/usr/lib/cni', '/opt/cni/bin']);
    assert.equal(c.cni.pod_subnet, '10.88.0.0/16');
    assert.equal(c.streaming.address, '127.0.0.1:0');
    assert.equal(c.metrics.address, '', 'metrics are off by default');
    assert.deepEqual(c.registry.hosts, {});
    assert.ok(parse(DEFAULT_CONFIG_TOML));
  });

  it('an absent default file means the defaults; an absent --config file is an error', async () => {
    const missing = join(await tempDir(), 'nope.toml');
    await assert.rejects(loadConfig(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.problems[0]!, /nope\.toml: cannot read: .*ENOENT/);
      return true;
    });
  });

  it('lays the file over the defaults and the flags over the file', async () => {
    const path = await configFile(
      [
        'root = "/srv/coracle"',
        '[log]',
        'level = "debug"',
        '[runtime.handlers.kata]',
        'path = "/opt/kata/bin/kata-runtime"',
        '[registry.hosts."docker.io"]',
        'mirrors = ["http://127.0.0.1:5000"]',
        'plain_http = true',
        'no_fallback = true',
        '[registry.hosts."quay.io"]',
        'mirrors = ["https://mirror.example"]',
      ].join('\n'),
    );
    const { config, file } = await loadConfig(path, { state: '/tmp/st', logFormat: 'text' });
    assert.equal(file, path);
    assert.equal(config.root, '/srv/coracle');
    assert.equal(config.state, '/tmp/st');
    assert.equal(config.log.level, 'debug');
    assert.equal(config.log.format, 'text');
    assert.deepEqual(Object.keys(config.runtime.handlers).sort(), ['crun', 'kata', 'runc']);
    assert.deepEqual(config.registry.hosts['docker.io'], {
      mirrors: ['http://127.0.0.1:5000'],
      plain_http: true,
      no_fallback: true,
    });
    assert.deepEqual(config.registry.hosts['quay.io'], {
      mirrors: ['https://mirror.example'],
      plain_http: false,
      no_fallback: false,
    });
  });

  const errorCases: [string, string, string[]][] = [
    ['an unknown top-level key', 'root = "/r"\nbogus = 1\n', ['FILE:2: unknown key bogus']],
    ['an unknown key in a table', '[cni]\nconf_dir = "/c"\nbrige = "x"\n', ['FILE:3: unknown key cni.brige']],
    ['an unknown table', '\n[cnii]\nx = 1\n', ['FILE:2: unknown key cnii']],
    ['a wrong type', '[grpc]\nmax_recv_message_size = "16M"\n', ['FILE:2: key grpc.max_recv_message_size: expected number, got string']],
    ['a float for an integer', '[image]\nmax_concurrent_downloads = 1.5\n', ['FILE:2: key image.max_concurrent_downloads: expected integer, got float']],
    ['a relative path', 'root = "var/lib"\n', ['FILE:1: key root: must be an absolute path']],
    ['a bad enum', '[log]\nlevel = "loud"\n', ['FILE:2: key log.level: must be one of "error", "warn", "info", "debug"']],
    ['a bad subnet', '[cni]\npod_subnet = "10.0.0.0/33"\n', ['FILE:2: key cni.pod_subnet: "10.0.0.0/33": prefix must be 0 to 32']],
    ['a pod network that is not Coracle\'s own', '[cni]\npod_network = "flannel"\n', ['FILE:2: key cni.pod_network: must be "" (the cluster\'s network from conf_dir) or network_name ("coracle")']],
    ['a long bridge name', '[cni]\nbridge = "a-very-long-bridge-name"\n', ['FILE:2: key cni.bridge: must be a link name of 1 to 15 characters']],
    ['a default handler that is not configured', '[runtime]\ndefault_handler = "kata"\n', ['FILE:2: key runtime.default_handler: "kata" is not among runtime.handlers']],
    [
      'a plain-http mirror without plain_http',
      '[registry.hosts."gcr.io"]\nmirrors = ["https://a", "http://127.0.0.1:5000"]\n',
      ['FILE:2: key registry.hosts."gcr.io".mirrors[1]: http://127.0.0.1:5000 is plain http: set plain_http = true for this host to allow it'],
    ],
    ['no_fallback without mirrors', '[registry.hosts."gcr.io"]\nno_fallback = true\n', ['FILE:2: key registry.hosts."gcr.io".no_fallback: no_fallback with no mirrors leaves no endpoint to pull from']],
    ['a client SAN of no known kind', '[remote]\nallowed_sans = ["DNS:ok.example", "dns:x"]\n', ['FILE:2: key remote.allowed_sans[1]: "dns:x": must be DNS:name, IP:address, URI:uri or email:address']],
    ['a client subject that is not ATTR=value', '[remote]\nallowed_subjects = ["admin"]\n', ['FILE:2: key remote.allowed_subjects[0]: "admin": each part must be ATTR=value, as CN=admin']],
    ['a metrics address without a port', '[metrics]\naddress = "127.0.0.1"\n', ['FILE:2: key metrics.address: must be empty (off) or host:port ([v6]:port for IPv6), the port at most 65535']],
    ['a metrics address past port 65535', '[metrics]\naddress = "127.0.0.1:65536"\n', ['FILE:2: key metrics.address: must be empty (off) or host:port ([v6]:port for IPv6), the port at most 65535']],
    ['a metrics address given as a URL', '[metrics]\naddress = "http://127.0.0.1:9090"\n', ['FILE:2: key metrics.address: must be empty (off) or host:port ([v6]:port for IPv6), the port at most 65535']],
    ['a TOML syntax error', 'root = \n', ['FILE:1:8: TOML syntax: Invalid TOML document: invalid value']],
    ['a duplicate key', 'root = "/a"\nroot = "/b"\n', ['FILE:2:1: TOML syntax: Invalid TOML document: trying to redefine an already defined table or value']],
  ];
  for (const [what, text, want] of errorCases) {
    it(`names file, key and line for ${what}`, async () => {
      assert.deepEqual(await problems(text), want);
    });
  }

  it('takes a metrics address as host:port or [v6]:port', async () => {
    for (const address of ['127.0.0.1:9100', '[::1]:9100', 'localhost:0']) {
      const { config } = await loadConfig(await configFile(`[metrics]\naddress = "${address}"\n`));
      assert.equal(config.metrics.address, address);
    }
  });

  it('reports every problem at once', async () => {
    const got = await problems('root = 1\nzzz = 2\n[log]\nformat = "xml"\n');
    assert.equal(got.length, 3);
  });

  it('a bad flag is named as a flag', async () => {
    assert.deepEqual(await problems('', { logLevel: 'chatty' }), [
      'flag: key log.level: must be one of "error", "warn", "info", "debug"',
    ]);
  });
});
