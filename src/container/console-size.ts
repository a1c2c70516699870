import { invalidArgument } from '../errors.js';

/**
 * The size a container's terminal starts with, from the annotation a client sets at create:
 * `io.coracle.console-size: "ROWSxCOLS"`. CRI gives a terminal's size only with the first
 * resize after an attach, so a process that asks for it before (the shell of `coracle run -it`
 * running `stty size` as it starts) found 0 rows and failed; docker passes the client's size
 * at create for the same reason. Kubelet sets no such annotation: its containers start at
 * the runtime's default, as on containerd. A value that is not two numbers in 1..65535 is
 * refused, never taken for a default.
 */
export const CONSOLE_SIZE_ANNOTATION = 'io.coracle.console-size';

export function consoleSizeOf(annotations: Record<string, string>): { height: number; width: number } | undefined {
  const v = annotations[CONSOLE_SIZE_ANNOTATION];
  if (v === undefined) return undefined;
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v);
  const [height, width] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || height < 1 || width < 1 || height > 65535 || width > 65535) throw invalidArgument(`annotation ${CONSOLE_SIZE_ANNOTATION}: ${JSON.stringify(v.slice(0, 40))}: expected ROWSxCOLS, each 1..65535`);
  return { height, width };
}
