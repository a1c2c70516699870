import { usageError } from './exit-status.js';
import { table } from './format.js';
import { parseTemplate, renderTemplate, topFields } from './go-template.js';

/**
 * docker's --format for lists (ps, images): `table` (the default columns), `table TEMPLATE`
 * (a header of the fields' column names, then a row per item, tab-separated cells aligned as
 * docker's tabwriter), `json` (one object per line, docker's keys, string values) or a bare
 * TEMPLATE (a line per item, no header). `\t` and `\n` written in the flag become tab and
 * newline, as docker's formatter replaces them.
 */
export interface ListColumns {
  /** Each field docker's template knows, with its column header (`ID`: `CONTAINER ID`). */
  headers: Record<string, string>;
  /** The fields of the default table, in order. */
  defaults: string[];
}

export function formatList(format: string | undefined, rows: Record<string, string>[], columns: ListColumns, flag = '--format'): string {
  const f = format ?? 'table';
  if (f === 'json') return rows.map((r) => `${JSON.stringify(sortedKeys(r))}\n`).join('');
  if (f === 'table') return table(columns.defaults.map((k) => columns.headers[k]!), rows.map((r) => columns.defaults.map((k) => r[k] ?? '')));
  const isTable = f.startsWith('table ');
  const text = (isTable ? f.slice('table '.length).trim() : f).replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const parts = parseTemplate(text, flag);
  for (const field of topFields(parts)) if (!Object.hasOwn(columns.headers, field)) throw usageError(`${flag} ${JSON.stringify(format)}: no field "${field}"; the fields are ${Object.keys(columns.headers).join(', ')}`);
  const lines = rows.map((r) => renderTemplate(parts, r, flag));
  if (!isTable) return lines.map((l) => `${l}\n`).join('');
  // The header: the template with each placeholder its column's name.
  const header = parts.map((p) => (p.kind === 'text' ? p.text : p.path.length ? columns.headers[p.path[0]!]! : '')).join('');
  return table(header.split('\t'), lines.map((l) => l.split('\t')));
}

function sortedKeys(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]!]));
}
