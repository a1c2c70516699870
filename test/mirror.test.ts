import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * test/ mirrors src/: test/DIR/NAME.test.ts tests src/DIR/MODULE.ts, where NAME is MODULE or
 * MODULE-ASPECT; and test/bench/ mirrors bench/ (the benches' own library). Read from the
 * source trees (not dist), so a test file compiled from a name since changed cannot hide a miss.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Test files that do not follow the rule, each with why. */
const EXCEPTIONS: Record<string, string> = {
  'mirror.test.ts': 'checks the layout of the tree itself, no module',
};

/** `dir/name.ts` paths of the .ts files under `dir` of the repository, `/`-separated. */
function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(`${ROOT}${dir}`, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => f.split('\\').join('/'));
}

/** The src module (`dir/module.ts`) `testFile` (`dir/name.test.ts`) is named after, if any. */
function moduleOf(testFile: string, modules: ReadonlySet<string>): string | undefined {
  const slash = testFile.lastIndexOf('/');
  const dir = testFile.slice(0, slash + 1);
  const parts = testFile.slice(slash + 1, -'.test.ts'.length).split('-');
  // The longest prefix of whole dash-separated words that names a module.
  for (let n = parts.length; n > 0; n--) {
    const candidate = `${dir}${parts.slice(0, n).join('-')}.ts`;
    if (modules.has(candidate)) return candidate;
  }
  return undefined;
}

describe('test/ mirrors src/', () => {
  const modules = new Set(['util/cidr.ts', 'image/unpack.ts', 'image/unpack-pool.ts', 'errors.ts', 'cri/server.ts']);
  const cases: [string, string | undefined][] = [
    ['util/cidr.test.ts', 'util/cidr.ts'],
    ['image/unpack-fuzz.test.ts', 'image/unpack.ts'],
    ['image/unpack-pool-error.test.ts', 'image/unpack-pool.ts'],
    ['errors.test.ts', 'errors.ts'],
    ['cri/server-fuzz.test.ts', 'cri/server.ts'],
    ['cri/cidr.test.ts', undefined],
    ['image/unpacked.test.ts', undefined],
    ['image/pool-unpack.test.ts', undefined],
    ['util/cidr-v6/x.test.ts', undefined],
  ];
  for (const [file, want] of cases) {
    it(`the rule: ${file} → ${want ?? 'no module'}`, () => assert.equal(moduleOf(file, modules), want));
  }

  it('every test file is named after a module of the same folder of src/ (or of bench/, under test/bench/)', () => {
    const sourceModules = new Set([
      ...filesUnder('src', '.ts').filter((f) => !f.startsWith('generated/') && !f.endsWith('.d.ts')),
      ...filesUnder('bench', '.ts').map((f) => `bench/${f}`),
    ]);
    const tests = filesUnder('test', '.test.ts');
    assert.ok(tests.length > 0, `no test files found under ${ROOT}test`);
    const misses = tests.filter((f) => !(f in EXCEPTIONS) && moduleOf(f, sourceModules) === undefined).sort();
    assert.deepEqual(misses, [], `test files with no src module of their name (test/DIR/MODULE[-ASPECT].test.ts for src/DIR/MODULE.ts): ${misses.join(', ')}`);
  });

  it('every exception still exists and still needs to be one', () => {
    const tests = new Set(filesUnder('test', '.test.ts'));
    const srcModules = new Set(filesUnder('src', '.ts'));
    for (const file of Object.keys(EXCEPTIONS)) {
      assert.ok(tests.has(file), `exception test/${file} no longer exists: take it off the list`);
      assert.equal(moduleOf(file, srcModules), undefined, `exception test/${file} now fits the rule: take it off the list`);
    }
  });
});
