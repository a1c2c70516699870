import { LayerError } from './layer-error.js';

/** An empty, `.` or `..` segment (a leading, trailing or doubled slash makes an empty one). */
const SEGMENT_TO_CLEAN = /(^|\/)\.{0,2}(\/|$)/;

/**
 * A tar entry's name as a path inside the layer: `a/./b/../c/` → `a/c`, `./a` → `a`; a path
 * that climbs out of the root is refused. Most names have nothing to clean, and are taken
 * as they are, without the split and join (a layer of thousands of small files spent more
 * here than on most of its system calls).
 */
export function cleanEntryPath(name: string): string {
  const rest = name.startsWith('./') ? name.slice(2) : name;
  if (rest !== '' && !SEGMENT_TO_CLEAN.test(rest)) return rest;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new LayerError(`entry "${name}": path escapes the layer`);
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

/** A clean path's directory (`''` for the layer's root) and last name. */
export function splitEntryPath(rel: string): { dir: string; base: string } {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? { dir: '', base: rel } : { dir: rel.slice(0, slash), base: rel.slice(slash + 1) };
}
