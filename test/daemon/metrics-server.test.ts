import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DAEMON_BUNDLE } from '../../src/util/package-root.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { spawnCoracle, startTestDaemon, tempDir, writeTestConfig, type DaemonProcess } from '../helpers/daemon.js';
import { podConfig, startContainer } from '../helpers/pods.js';
import { parsePromText, type Scrape } from '../helpers/prom-text.js';
import { spdyExec } from '../helpers/stream-clients.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

const METRICS_ON = '[metrics]\naddress = "127.0.0.1:0"';

/** The `url` field of the daemon's log line `message`. */
function loggedUrl(d: DaemonProcess, message: string): string {
  for (const line of d.lines) {
    try {
      const o = JSON.parse(line) as { message?: string; url?: string };
      if (o.message === message && o.url) return o.url;
    } catch {
      // not a JSON line
    }
  }
  throw new Error(`no "${message}" line in the log:\n${d.lines.join('\n')}`);
}

/** The TCP addresses `pid` listens on (ss sees every process's sockets as root). */
async function listening(pid: number): Promise<string[]> {
  const { stdout } = await run('ss', ['-Hltnp'], { timeout: 10_000 });
  return stdout
    .split('\n')
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => l.trim().split(/\s+/)[3]!)
    .sort();
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(url: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function scrape(url: string): Promise<Scrape> {
  const r = await http(url);
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parsePromText(r.body);
}

const rt = (method: string, code = 'OK'): Record<string, string> => ({ service: 'runtime.v1.RuntimeService', method, code });
const img = (method: string, code = 'OK'): Record<string, string> => ({ service: 'runtime.v1.ImageService', method, code });
const byState = (s: Scrape, name: string, states: string[]): Record<string, number | undefined> => Object.fromEntries(states.map((state) => [state, s.value(name, { state })]));

describe('daemon: Prometheus metrics', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('metrics/busybox');

  it('after a pod lifecycle: RPCs by method and code, pull bytes, time and failures, pods and containers by state, streaming sessions, the process', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url }, extra: METRICS_ON });
    const url = loggedUrl(d, 'metrics server listening');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const fresh = await scrape(url);
    assert.deepEqual(fresh.all('coracle_grpc_requests_total'), [], 'no call yet');
    assert.deepEqual(byState(fresh, 'coracle_pods', ['ready', 'notready']), { ready: 0, notready: 0 });
    assert.deepEqual(byState(fresh, 'coracle_containers', ['created', 'running', 'exited']), { created: 0, running: 0, exited: 0 });

    await d.clients.image.PullImage({ image: { image: fx.image } });
    const missing = await codeOf(d.clients.image.PullImage({ image: { image: `${fx.registry.host}/metrics/nosuch:v1` } }));
    assert.notEqual(missing.code, grpc.status.OK);
    const config = podConfig('metricspod', { log_directory: join(d.dir, 'logs') });
    const pod = { id: (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id, config };
    const id = await startContainer(d.clients.runtime, pod, fx.image, 'sleeper', ['/bin/sh', '-c', 'sleep 3600']);
    assert.equal((await codeOf(d.clients.runtime.ContainerStatus({ container_id: 'nosuch' }))).code, grpc.status.NOT_FOUND);

    // An exec session held open while scraping.
    const { url: execUrl } = await d.clients.runtime.Exec({ container_id: id, cmd: ['cat'], stdin: true, stdout: true });
    let during: Scrape | undefined;
    const exec = await spdyExec(execUrl, {
      stdout: true,
      stdin: async (s) => {
        during = await scrape(url);
        s.end('hello');
      },
    });
    assert.equal(exec.stdout, 'hello');
    assert.deepEqual(byState(during!, 'coracle_pods', ['ready', 'notready']), { ready: 1, notready: 0 });
    assert.deepEqual(byState(during!, 'coracle_containers', ['created', 'running', 'exited']), { created: 0, running: 1, exited: 0 });
    assert.deepEqual(['exec', 'attach', 'portforward'].map((kind) => during!.value('coracle_streaming_sessions', { kind })), [1, 0, 0]);

    await d.clients.runtime.StopContainer({ container_id: id, timeout: 0 });
    assert.deepEqual(byState(await scrape(url), 'coracle_containers', ['created', 'running', 'exited']), { created: 0, running: 0, exited: 1 });
    await d.clients.runtime.RemoveContainer({ container_id: id });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id });
    assert.deepEqual(byState(await scrape(url), 'coracle_pods', ['ready', 'notready']), { ready: 0, notready: 1 });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id });
    // The exec's connection is gone once the server has seen it close.
    await until('the exec session closed', async () => (await scrape(url)).value('coracle_streaming_sessions', { kind: 'exec' }) === 0);

    const s = await scrape(url);
    // Calls by method and code: each once, the failed ones under their code.
    for (const m of ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'Exec', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox']) {
      assert.equal(s.value('coracle_grpc_requests_total', rt(m)), 1, m);
      const labels = { service: 'runtime.v1.RuntimeService', method: m };
      assert.equal(s.value('coracle_grpc_request_duration_seconds_count', labels), 1, m);
      assert.equal(s.value('coracle_grpc_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), 1, m);
      assert.ok(s.value('coracle_grpc_request_duration_seconds_sum', labels)! > 0, m);
    }
    assert.equal(s.value('coracle_grpc_requests_total', rt('ContainerStatus', 'NOT_FOUND')), 1);
    assert.equal(s.value('coracle_grpc_requests_total', rt('ContainerStatus')), undefined, 'no ContainerStatus succeeded');
    assert.equal(s.value('coracle_grpc_request_duration_seconds_count', { service: 'runtime.v1.RuntimeService', method: 'ContainerStatus' }), 1, 'failed calls are timed too');
    assert.equal(s.value('coracle_grpc_requests_total', img('PullImage')), 1);
    assert.equal(s.value('coracle_grpc_requests_total', img('PullImage', grpc.status[missing.code])), 1);
    assert.equal(s.types.get('coracle_grpc_request_duration_seconds'), 'histogram');
    assert.equal(s.types.get('coracle_grpc_requests_total'), 'counter');

    // Pulls: the bytes are exactly what the registry sent for the image (manifest, config, layers).
    const b = fx.built;
    const bytes = b.manifest.length + b.config.length + b.layers.reduce((n, l) => n + l.blob.length, 0);
    assert.equal(s.value('coracle_image_pull_bytes_total'), bytes);
    assert.equal(s.value('coracle_image_pull_duration_seconds_count'), 1);
    assert.ok(s.value('coracle_image_pull_duration_seconds_sum')! > 0);
    assert.deepEqual(s.all('coracle_image_pull_failures_total'), [{ name: 'coracle_image_pull_failures_total', labels: { code: grpc.status[missing.code] }, value: 1 }]);

    // Nothing left; the session counted; no OOM kill.
    assert.deepEqual(byState(s, 'coracle_pods', ['ready', 'notready']), { ready: 0, notready: 0 });
    assert.deepEqual(byState(s, 'coracle_containers', ['created', 'running', 'exited']), { created: 0, running: 0, exited: 0 });
    assert.deepEqual(['exec', 'attach', 'portforward'].map((kind) => s.value('coracle_streaming_sessions_total', { kind })), [1, 0, 0]);
    assert.equal(s.types.get('coracle_streaming_sessions_total'), 'counter');
    assert.equal(s.value('coracle_container_oom_kills_total'), 0);

    // The process's own, under prom-client's standard names.
    assert.ok(s.value('process_cpu_seconds_total')! > 0);
    assert.ok(s.value('process_resident_memory_bytes')! > 10 * 1024 * 1024);
    assert.ok(Math.abs(s.value('process_start_time_seconds')! - Date.now() / 1000) < 600);
    assert.ok(s.value('process_open_fds')! > 0);
    assert.ok(s.value('nodejs_heap_size_used_bytes')! > 0);
    assert.ok(s.all('nodejs_eventloop_lag_seconds').length === 1);
    assert.ok(s.value('nodejs_version_info', { version: process.version, major: String(process.versions.node.split('.')[0]), minor: process.versions.node.split('.')[1]!, patch: process.versions.node.split('.')[2]! }) === 1);
  });

  it('counts an OOM kill', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url }, extra: METRICS_ON });
    const url = loggedUrl(d, 'metrics server listening');
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const config = podConfig('oompod', { log_directory: join(d.dir, 'logs') });
    const podId = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    // tmpfs pages are charged to the container's memory cgroup, and there is no swap.
    const { container_id: id } = await d.clients.runtime.CreateContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'oom', attempt: 0 },
        image: { image: fx.image },
        command: ['/bin/sh', '-c', 'head -c 60000000 /dev/zero > /dev/shm/fill; sleep 1'],
        log_path: 'oom.log',
        linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
      },
      sandbox_config: config,
    });
    await d.clients.runtime.StartContainer({ container_id: id });
    await until('the container exited', async () => (await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state === 'CONTAINER_EXITED');
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.reason, 'OOMKilled');
    const s = await scrape(url);
    assert.equal(s.value('coracle_container_oom_kills_total'), 1);
    assert.equal(s.types.get('coracle_container_oom_kills_total'), 'counter');
    assert.equal(s.value('coracle_containers', { state: 'exited' }), 1);
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  });

  it('is off by default: nothing more listens', async () => {
    const d = await startTestDaemon();
    const streaming = new URL(loggedUrl(d, 'streaming server listening'));
    assert.deepEqual(await listening(d.proc.pid!), [streaming.host], 'the streaming server alone');
    assert.ok(!d.lines.some((l) => l.includes('"metrics server listening"')));
  });

  it('prom-client is in a chunk of the bundle of its own, reached only by a dynamic import', async () => {
    const dir = dirname(DAEMON_BUNDLE);
    const chunks = new Map<string, string>();
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.js'))) chunks.set(name, await readFile(join(dir, name), 'utf8'));
    // prom-client's own metric names, and ours.
    const holders = [...chunks].filter(([, text]) => text.includes('process_resident_memory_bytes') || text.includes('coracle_grpc_requests_total')).map(([name]) => name);
    assert.equal(holders.length, 1, holders.join(' '));
    const chunk = holders[0]!;
    assert.match(chunk, /^metrics-server-[A-Z0-9]+\.js$/);
    const importers = [...chunks].filter(([, text]) => text.includes(`"./${chunk}"`));
    assert.ok(importers.length >= 1);
    for (const [name, text] of importers) {
      assert.ok(!new RegExp(`from ?"\\./${chunk.replace('.', '\\.')}"`).test(text), `${name} imports it statically`);
      assert.ok(text.includes(`import("./${chunk}")`), `${name} imports it dynamically`);
    }
  });

  it('answers GET /metrics alone, on the configured address alone: other methods 405, other paths 404, oversized headers 431, headers never finished 408', async () => {
    const d = await startTestDaemon({ extra: METRICS_ON });
    const url = loggedUrl(d, 'metrics server listening');
    const streaming = new URL(loggedUrl(d, 'streaming server listening'));
    assert.deepEqual(await listening(d.proc.pid!), [streaming.host, new URL(url).host].sort());
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const r = await http(url, method, method === 'PUT' ? 'x'.repeat(100_000) : undefined);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET', method);
    }
    const base = url.replace(/\/metrics$/, '');
    for (const path of ['/', '/metric', '/metrics/', '/debug/pprof']) assert.equal((await http(`${base}${path}`)).status, 404, path);
    assert.equal((await http(`${url}?name[]=process_cpu_seconds_total`)).status, 200, 'a query string is ignored');
    // Raw requests: what comes back until the server closes the connection.
    const { port, hostname } = new URL(url);
    const raw = (text: string): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(Number(port), hostname);
        onCleanup('destroy a raw socket', () => sock.destroy());
        let got = '';
        sock.on('data', (c: Buffer) => (got += c.toString()));
        sock.on('close', () => resolve(got));
        sock.on('error', reject);
        sock.write(text);
      });
    // Headers past the cap (8 KiB), written at once: answered 431 and closed.
    assert.match(await raw(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    // Headers never finished: closed by the server once its headers timeout has passed (5 s).
    assert.match(await raw('GET /metrics HTTP/1.1\r\nHost: x\r\n'), /^HTTP\/1\.1 408 /);
    // And it still serves.
    assert.ok((await scrape(url)).value('process_resident_memory_bytes')! > 0);
  });

  it('a bad address is refused by the config check, naming the key', async () => {
    const paths = await writeTestConfig(await tempDir(), { extra: '[metrics]\naddress = "127.0.0.1:99999"' });
    const d = spawnCoracle(['--config', paths.configPath, 'serve']);
    const exit = await d.exited;
    assert.equal(exit.code, 2, d.lines.join('\n'));
    assert.ok(d.lines.some((l) => l.includes('metrics.address') && l.includes('host:port')), d.lines.join('\n'));
    assert.equal(existsSync(paths.socket), false);
  });

  it('an address in use stops the start and leaves nothing held: a daemon without metrics then starts on the same root', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    onCleanup('close the blocking listener', () => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const { port } = blocker.address() as AddressInfo;
    const dir = await tempDir();
    const paths = await writeTestConfig(dir, { extra: `[metrics]\naddress = "127.0.0.1:${port}"` });
    const d = spawnCoracle(['--config', paths.configPath, 'serve']);
    const exit = await d.exited;
    assert.equal(exit.code, 1, d.lines.join('\n'));
    assert.ok(d.lines.some((l) => l.includes(`metrics server: listen on 127.0.0.1:${port}`) && l.includes('EADDRINUSE')), d.lines.join('\n'));
    assert.equal(existsSync(paths.socket), false, 'the socket was removed');
    const again = await startTestDaemon({ paths: await writeTestConfig(dir) });
    assert.equal((await again.clients.runtime.Version({})).runtime_name, 'coracle');
  });
});
