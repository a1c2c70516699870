/**
 * A container's argv and environment as Kubernetes defines them over the image's config:
 * `command` replaces the image's Entrypoint (and then its Cmd is dropped), `args` replaces
 * its Cmd; environment variables of the container override the image's by name.
 */
export function containerArgs(
  image: { entrypoint: readonly string[]; cmd: readonly string[] },
  container: { command: readonly string[]; args: readonly string[] },
): string[] {
  if (container.command.length > 0) return [...container.command, ...container.args];
  if (container.args.length > 0) return [...image.entrypoint, ...container.args];
  return [...image.entrypoint, ...image.cmd];
}

export function mergeEnv(image: readonly string[], container: readonly { key: string; value: string }[]): string[] {
  const out = new Map<string, string>();
  for (const kv of image) {
    const eq = kv.indexOf('=');
    out.set(eq < 0 ? kv : kv.slice(0, eq), kv);
  }
  for (const { key, value } of container) out.set(key, `${key}=${value}`);
  return [...out.values()];
}
