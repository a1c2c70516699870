/**
 * `convert` remembered per input object: a List call converts only the records that changed
 * since the last. Sound because stores replace a record with a new object on every change
 * (records are never changed in place once listed), and the result, an object the caller
 * must not change either, is what the response encoder remembers its bytes by (proto.ts).
 */
export function identityMemo<K extends object, V>(convert: (k: K) => V): (k: K) => V {
  const seen = new WeakMap<K, V>();
  return (k) => {
    let v = seen.get(k);
    if (v === undefined) {
      v = convert(k);
      seen.set(k, v);
    }
    return v;
  };
}
