import { usageError } from './exit-status.js';

/**
 * The part of Go's text/template that docker's --format users write: text with `{{.Field}}`
 * and `{{.A.B}}` placeholders, `{{.}}`, and `{{json .X}}` / `{{json .}}`. Written here
 * because no npm library renders Go templates; anything else inside `{{ }}` (range, if,
 * pipes, functions other than json) is refused as a usage error rather than misread.
 */

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'field'; path: string[]; json: boolean; source: string };

/** Caps what a template can be: a flag's value, from the user's command line. */
const MAX_TEMPLATE = 4096;

export function parseTemplate(template: string, flag: string): TemplatePart[] {
  if (template.length > MAX_TEMPLATE) throw usageError(`${flag}: the template is longer than ${MAX_TEMPLATE} characters`);
  const parts: TemplatePart[] = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) break;
    if (open > 0) parts.push({ kind: 'text', text: rest.slice(0, open) });
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw usageError(`${flag} ${JSON.stringify(template)}: unclosed action: a "{{" without its "}}"`);
    const source = rest.slice(open, close + 2);
    // `{{- x -}}` trims the spaces around, as Go's does.
    let inner = rest.slice(open + 2, close);
    if (inner.startsWith('- ') && parts.at(-1)?.kind === 'text') {
      const last = parts.at(-1) as { text: string };
      last.text = last.text.trimEnd();
    }
    const trimRight = inner.endsWith(' -');
    inner = inner.replace(/^- /, '').replace(/ -$/, '').trim();
    const m = /^(json\s+)?(\.|(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(inner);
    if (!m) throw usageError(`${flag} ${JSON.stringify(template)}: ${source} is not supported: only {{.Field}}, {{.A.B}}, {{.}} and {{json .X}}`);
    parts.push({ kind: 'field', path: m[2] === '.' ? [] : m[2]!.slice(1).split('.'), json: m[1] !== undefined, source });
    rest = rest.slice(close + 2);
    if (trimRight) rest = rest.trimStart();
  }
  if (rest) parts.push({ kind: 'text', text: rest });
  return parts;
}

/** The first field of each placeholder (`Config` of `{{.Config.Image}}`). */
export function topFields(parts: TemplatePart[]): string[] {
  return parts.flatMap((p) => (p.kind === 'field' && p.path.length > 0 ? [p.path[0]!] : []));
}

/** The template over `value`; a field `value` does not have is a usage error naming it. */
export function renderTemplate(parts: TemplatePart[], value: unknown, flag: string): string {
  return parts
    .map((p) => {
      if (p.kind === 'text') return p.text;
      let v = value;
      for (const [i, key] of p.path.entries()) {
        if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) {
          throw usageError(`${flag}: ${p.source}: no field "${p.path.slice(0, i + 1).join('.')}"`);
        }
        v = (v as Record<string, unknown>)[key];
      }
      return p.json ? JSON.stringify(v) : goText(v);
    })
    .join('');
}

/** A value as Go's fmt prints it with %v: `[a b]`, `map[k:v]`, `<nil>`. */
export function goText(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goText).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, x]) => `${k}:${goText(x)}`).join(' ')}]`;
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}
