import type { Command, Option } from 'commander';
import { enumArg } from './flag-parsers.js';

/**
 * `coracle completion bash`: a bash completion script made from the command tree as it is
 * registered (commands, subcommands, each one's flags and which of them take a value), so it
 * never falls behind the commands. Container operands are completed from
 * `coracle ps -a --format '{{.Names}}'`, image operands from `coracle images --format …`,
 * run against the daemon the line's own -H/--host/-c names.
 */
export function registerCompletionCommands(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: `source <(coracle completion bash)`')
    .argument('<shell>', 'bash', enumArg(['bash']))
    .action(() => {
      process.stdout.write(bashCompletion(program));
    });
}

const flagsOf = (options: readonly Option[]): string[] => [...options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)), '-h', '--help'];
const valuedOf = (options: readonly Option[]): string[] => options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));

/** What a command's first operand names, from its argument's name (`<container...>`, `<image>`). */
function operandOf(c: Command): { kind: 'container' | 'image' | 'none'; variadic: boolean } {
  const a = c.registeredArguments[0];
  if (!a) return { kind: 'none', variadic: false };
  const kind = a.name() === 'container' ? 'container' : a.name() === 'image' ? 'image' : 'none';
  // exec's and run's later operands are the command: only the first is completed.
  return { kind, variadic: a.variadic && c.registeredArguments.length === 1 };
}

/** Words bash may see as one: flags and command names only ever have these characters. */
const safe = (words: string[]): string => words.filter((w) => /^[A-Za-z0-9_.:-]+$/.test(w)).join(' ');

export function bashCompletion(program: Command): string {
  const commands = program.commands.filter((c) => c.name() !== 'help');
  const cases = commands
    .map((c) => {
      const op = operandOf(c);
      const subs = c.commands.map((s) => s.name());
      return `    ${c.name()}) flags='${safe(flagsOf(c.options))}'; valued='${safe(valuedOf(c.options))}'; operand=${op.kind}; variadic=${op.variadic ? 1 : 0}; subs='${safe(subs)}' ;;`;
    })
    .join('\n');
  const globalValued = valuedOf(program.options);
  return `# bash completion for coracle, made by \`coracle completion bash\`.
_coracle_in() { local w; for w in $2; do [ "$w" = "$1" ] && return 0; done; return 1; }
_coracle() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local global_valued='${safe(globalValued)}'
  local i=1 cmd='' cmdpos=0 w
  local -a global=()
  while [ "$i" -lt "$COMP_CWORD" ]; do
    w="\${COMP_WORDS[i]}"
    if _coracle_in "$w" "$global_valued"; then global+=("$w" "\${COMP_WORDS[i+1]}"); i=$((i+2)); continue; fi
    case "$w" in -*) i=$((i+1)); continue ;; esac
    cmd="$w"; cmdpos=$i; break
  done
  COMPREPLY=()
  if [ -z "$cmd" ]; then
    if _coracle_in "$prev" "$global_valued"; then COMPREPLY=($(compgen -f -- "$cur")); return 0; fi
    case "$cur" in
      -*) COMPREPLY=($(compgen -W '${safe(flagsOf(program.options))}' -- "$cur")) ;;
      *) COMPREPLY=($(compgen -W '${safe(commands.map((c) => c.name()))}' -- "$cur")) ;;
    esac
    return 0
  fi
  local flags='' valued='' operand=none variadic=0 subs=''
  case "$cmd" in
${cases}
    *) return 0 ;;
  esac
  case "$cur" in -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")); return 0 ;; esac
  if _coracle_in "$prev" "$valued"; then COMPREPLY=($(compgen -f -- "$cur")); return 0; fi
  # The operands before this word.
  local n=0 j=$((cmdpos+1))
  while [ "$j" -lt "$COMP_CWORD" ]; do
    w="\${COMP_WORDS[j]}"
    if _coracle_in "$w" "$valued"; then j=$((j+2)); continue; fi
    case "$w" in -*) ;; *) n=$((n+1)) ;; esac
    j=$((j+1))
  done
  if [ "$n" -gt 0 ] && [ "$variadic" = 0 ]; then return 0; fi
  local words=''
  case "$operand" in
    container) words="$("\${COMP_WORDS[0]}" "\${global[@]}" ps -a --format '{{.Names}}' 2>/dev/null)" ;;
    image) words="$("\${COMP_WORDS[0]}" "\${global[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>')" ;;
    *) [ "$n" -eq 0 ] && words="$subs" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -F _coracle coracle
`;
}
