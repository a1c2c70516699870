import { Option, type Command } from 'commander';
import type { DaemonTarget } from './daemon-target.js';
import type { SocketOf } from './with-client.js';

/** An option: its flags, its help, and its value's parser and default when it takes one. */
export interface OptionSpec {
  flags: string;
  description: string;
  parse?: (value: string, previous: never) => unknown;
  default?: unknown;
}

/**
 * A command of the usual kind: one operand (`<image>`, or `<container...>` for several), its
 * options, and the daemon to talk to. Declared in one place, so each command is only its
 * spec and its work; `O` is what its options parse to, `A` string or string[] as the operand.
 */
export function operandCommand<A extends string | string[] = string, O = Record<string, never>>(
  program: Command,
  socketOf: SocketOf,
  spec: { name: string; description: string; operand: string; options?: OptionSpec[] },
  work: (operand: A, o: O, socket: DaemonTarget) => Promise<void>,
): void {
  const command = program.command(spec.name).description(spec.description).argument(spec.operand);
  for (const o of spec.options ?? []) {
    const option = new Option(o.flags, o.description);
    if (o.parse) option.argParser(o.parse as unknown as (value: string, previous: unknown) => unknown);
    if (o.default !== undefined) option.default(o.default);
    command.addOption(option);
  }
  command.action(async (operand: A, o: O, cmd: Command) => work(operand, o, await socketOf(cmd)));
}
