/**
 * Finds the line of a key in a TOML text, so that a config error can name it. smol-toml
 * reports lines only for syntax errors; a schema error has a key path, and this maps the
 * path back by following table headers and (dotted) keys. Inline tables and multi-line
 * values are not entered: their errors point at the line of the key that holds them.
 */
export type KeyPath = readonly (string | number)[];

export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out === '' ? '' : '.') + (/^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part));
  }
  return out;
}

/** Splits `a."b.c".d` into its parts, honouring basic and literal quotes. */
export function splitDottedKey(text: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    let part: string;
    if (s[i] === '"' || s[i] === "'") {
      const quote = s[i];
      let j = i + 1;
      while (j < s.length && s[j] !== quote) j += quote === '"' && s[j] === '\\' ? 2 : 1;
      if (j >= s.length) return undefined;
      const raw = s.slice(i, j + 1);
      part = quote === '"' ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return undefined;
      part = m[0];
      i += part.length;
    }
    parts.push(part);
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i < s.length) {
      if (s[i] !== '.') return undefined;
      i++;
    }
  }
  return parts;
}

/** Index of the first `=` that is not inside a quoted key. */
function keyEnd(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '=') return i;
    else if (c === '#') return -1;
  }
  return -1;
}

/** Maps every key path the text defines (joined with NUL) to its 1-based line. */
function indexKeys(source: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table: string[] = [];
  const arrayCounts = new Map<string, number>();
  source.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const header = /^\[\[(.+)\]\]\s*(#.*)?$/.exec(line) ?? /^\[(.+)\]\s*(#.*)?$/.exec(line);
    if (header) {
      const parts = splitDottedKey(header[1]!);
      if (!parts) return;
      const key = parts.join('\0');
      if (line.startsWith('[[')) {
        const n = arrayCounts.get(key) ?? 0;
        arrayCounts.set(key, n + 1);
        table = [...parts, String(n)];
      } else {
        table = parts;
      }
      if (!lines.has(table.join('\0'))) lines.set(table.join('\0'), index + 1);
      return;
    }
    const eq = keyEnd(line);
    if (eq <= 0) return;
    const parts = splitDottedKey(line.slice(0, eq));
    if (!parts) return;
    const full = [...table, ...parts].join('\0');
    if (!lines.has(full)) lines.set(full, index + 1);
  });
  return lines;
}

/** The line of `path`, or of its nearest ancestor the text names; undefined if none. */
export function lineOfKey(source: string, path: KeyPath): number | undefined {
  const lines = indexKeys(source);
  const parts = path.map(String);
  for (let n = parts.length; n > 0; n--) {
    const line = lines.get(parts.slice(0, n).join('\0'));
    if (line !== undefined) return line;
  }
  return undefined;
}
