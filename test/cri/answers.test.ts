import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import type { ImageRecord } from '../../src/image/image-store.js';
import { containerInfo, criContainerStatus, criImage, prepareContainerStatus, prepared, prepareImage } from '../../src/cri/answers.js';
import type { Logger } from '../../src/log.js';
import { containerRecord } from '../helpers/container-record.js';
import { CRI_PROTO_PATH, encodeAhead } from '../../src/cri/proto.js';
import { loadCriProto } from '../../src/cri/proto-clients.js';

const IMAGE: ImageRecord = {
  id: `sha256:${'c'.repeat(64)}`,
  repoTags: ['registry.test/app:v1', 'registry.test/app:latest'],
  repoDigests: [`registry.test/app@sha256:${'d'.repeat(64)}`],
  manifestDigest: `sha256:${'d'.repeat(64)}`,
  manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
  content: [],
  size: 1234,
  layers: [],
  config: { user: '1000', env: [], entrypoint: [], cmd: ['sh'], workingDir: '', exposedPorts: [], volumes: [], labels: { a: 'b' }, stopSignal: '' },
  pulledAt: '2026-12-02T00:00:00Z',
};

const CONTAINER = containerRecord({ labels: { app: 'x' }, logPath: '/var/log/c.log', createdAt: '1700000000000000000', startedAt: '1700000000500000000' });

/*
 * An answer prepared when its record is made is what the Status call then sends: the same
 * object, and bytes protobufjs's own encoder would write for the response.
 */
describe('cri/answers: Status answers converted and encoded once per record, ahead', () => {
  const cri = loadCriProto().runtime.v1;
  const root = new protobuf.Root().loadSync(CRI_PROTO_PATH, { keepCase: true });
  const reference = (name: string, value: object): Buffer => {
    const type = root.lookupType(name);
    return Buffer.from(type.encode(type.fromObject(value)).finish());
  };

  it('ImageStatus: the prepared image is the answer, encoded as protobufjs encodes it', () => {
    prepareImage(IMAGE);
    const answer = criImage(IMAGE);
    assert.equal(criImage(IMAGE), answer, 'one conversion per record');
    const response = { image: answer, info: {} };
    assert.deepEqual(cri.ImageService.service.ImageStatus.responseSerialize(response), reference('runtime.v1.ImageStatusResponse', response));
    const list = { images: [answer, answer] };
    assert.deepEqual(cri.ImageService.service.ListImages.responseSerialize(list), reference('runtime.v1.ListImagesResponse', list));
  });

  it('ContainerStatus: the prepared status and verbose info are the answer, encoded as protobufjs encodes them', () => {
    prepareContainerStatus(CONTAINER);
    const status = criContainerStatus(CONTAINER);
    const info = containerInfo(CONTAINER);
    assert.equal(criContainerStatus(CONTAINER), status);
    assert.equal(containerInfo(CONTAINER), info);
    assert.deepEqual(JSON.parse(info.info) as unknown, JSON.parse(JSON.stringify(CONTAINER)) as unknown);
    const response = { status, info };
    assert.deepEqual(cri.RuntimeService.service.ContainerStatus.responseSerialize(response), reference('runtime.v1.ContainerStatusResponse', response));
  });

  it('a type no loaded .proto has is refused', () => {
    assert.throws(() => encodeAhead('runtime.v1.NoSuchMessage', {}), /no message type runtime\.v1\.NoSuchMessage/);
  });
  it("a prepare that fails is logged, never the call's failure", async () => {
    const warned: unknown[] = [];
    const log = { warn: (message: string, meta: unknown) => warned.push([message, meta]) } as unknown as Logger;
    await prepared(() => Promise.reject(new Error('gone')), log);
    await prepared(() => {
      throw new Error('no type');
    }, log);
    await prepared(() => undefined, log);
    assert.deepEqual(warned, [
      ['status answer not prepared ahead', { error: 'gone' }],
      ['status answer not prepared ahead', { error: 'no type' }],
    ]);
  });
});
