/**
 * Image references, parsed and normalised the way Docker and containerd do it
 * (distribution/reference v0.6 `ParseNormalizedNamed` followed by `TagNameOnly`), so that the
 * names kubelet sends, the keys of registry configuration and the repo tags / repo digests we
 * report all agree with what other runtimes would produce for the same text.
 */
import { CoracleError } from '../errors.js';
import { isDigest } from './digest.js';

export interface ImageReference {
  /** Registry host as used in URLs and config keys: "docker.io", "127.0.0.1:5000", "registry.k8s.io", "localhost:5000", "[::1]:5000". */
  registry: string;
  /** Repository path without the registry: "library/busybox", "e2e-test-images/busybox". */
  repository: string;
  /** Tag, if any. When the text has neither tag nor digest, the tag is "latest". */
  tag?: string;
  /** "sha256:<64 lowercase hex>", if the text has one. */
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
/** Other spellings of Docker Hub; they must collapse so that one image has one name. */
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_REPOSITORY_LENGTH = 255;
const MAX_TAG_LENGTH = 128;

const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{64}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_CHARS = /^\w[\w.-]*$/;
const DOMAIN_NAME =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
// Zone ids and IPv4-mapped forms are left out on purpose, as upstream does.
const IPV6_LITERAL = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;

/** References parsed lately, by their text: kubelet asks the status of the same few images over and over. */
const parsed = new Map<string, Readonly<ImageReference>>();
const PARSED_KEPT = 256;

export function parseReference(text: string): Readonly<ImageReference> {
  let ref = parsed.get(text);
  if (!ref) {
    ref = Object.freeze(parseAnew(text));
    if (parsed.size >= PARSED_KEPT) parsed.delete(parsed.keys().next().value!);
    parsed.set(text, ref);
  }
  return ref;
}

function parseAnew(text: string): ImageReference {
  const fail = (reason: string): CoracleError =>
    new CoracleError('INVALID_ARGUMENT', `image reference "${text}": ${reason}`);

  if (text === '') throw fail('empty reference');
  if (/\s/.test(text)) throw fail('contains whitespace');
  // Without this, "sha256:<hex>" would parse as repository "library/sha256" with a hex tag.
  if (isImageId(text)) throw fail('an image id or digest is not a repository name');

  let rest = text;
  let digest: string | undefined;
  const at = text.indexOf('@');
  if (at >= 0) {
    digest = text.slice(at + 1);
    rest = text.slice(0, at);
    if (digest === '') throw fail("missing digest after '@'");
    if (!isDigest(digest)) throw fail('invalid digest: only sha256 with 64 hex digits');
  }

  // A ':' before the last '/' belongs to a registry port, not to a tag.
  let tag: string | undefined;
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw fail("missing tag after ':'");
    if (!TAG_CHARS.test(tag)) throw fail('invalid tag');
    if (tag.length > MAX_TAG_LENGTH) {
      throw fail(`tag must not be more than ${MAX_TAG_LENGTH} characters`);
    }
  }
  if (rest === '') throw fail('missing repository name');

  let { registry, repository } = splitRegistry(rest);
  const badRegistry = checkRegistry(registry);
  if (badRegistry !== undefined) throw fail(badRegistry);
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) {
    repository = OFFICIAL_PREFIX + repository;
  }

  if (repository.toLowerCase() !== repository) throw fail('repository name must be lowercase');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw fail(`invalid repository path component "${component}"`);
    }
  }
  if (repository.length > MAX_REPOSITORY_LENGTH) {
    throw fail(`repository name must not be more than ${MAX_REPOSITORY_LENGTH} characters`);
  }

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = DEFAULT_TAG;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * A lone component is always a Docker Hub repository, even "localhost" or "example.com",
 * because upstream treats it so. Otherwise the first component is a registry when it cannot be
 * a repository path component: it has a '.' or ':', is "localhost", or has uppercase letters.
 */
function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { registry: DOCKER_HUB, repository: name };
  const first = name.slice(0, slash);
  if (
    first === 'localhost' ||
    first.includes('.') ||
    first.includes(':') ||
    first.toLowerCase() !== first
  ) {
    return { registry: first, repository: name.slice(slash + 1) };
  }
  return { registry: DOCKER_HUB, repository: name };
}

/** Why `registry` is not a valid host[:port], or undefined when it is. */
function checkRegistry(registry: string): string | undefined {
  const hostEnd = registry.startsWith('[') ? registry.indexOf(']') + 1 : registry.indexOf(':');
  const host = hostEnd <= 0 ? registry : registry.slice(0, hostEnd);
  const port = registry.slice(host.length);
  if (!DOMAIN_NAME.test(host) && !IPV6_LITERAL.test(host)) return 'invalid registry host';
  if (port === '') return undefined;
  if (!port.startsWith(':')) return 'invalid registry host';
  return PORT.test(port.slice(1)) ? undefined : 'registry port must be numeric';
}

/** "docker.io/library/busybox" */
export function repoName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Fully qualified: "docker.io/library/busybox:latest", "reg/x@sha256:…", or "reg/x:tag@sha256:…" when both. */
export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return repoName(ref) + tag + digest;
}

/** repoName + ":" + tag, or undefined without a tag: the form stored as a CRI repo tag. */
export function repoTag(ref: ImageReference): string | undefined {
  return ref.tag === undefined ? undefined : `${repoName(ref)}:${ref.tag}`;
}

/** repoName + "@" + digest: the form stored as a CRI repo digest. */
export function repoDigest(ref: ImageReference, digest: string): string {
  return `${repoName(ref)}@${digest}`;
}

/** True if `text` is a bare image id / digest: 64 lowercase hex, or "sha256:" + 64 hex. */
export function isImageId(text: string): boolean {
  return IMAGE_ID.test(text);
}
