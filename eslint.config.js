// `npm run lint`: typescript-eslint's type-checked recommended rules over the TypeScript
// sources, tests and benches, with the few the code does not follow set below, each with
// why; then dependency-cruiser for the layers and import cycles (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/generated/**', 'proto/**', 'native/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `xs[i]!` marks an index the code trusts; without noUncheckedIndexedAccess the type
      // checker sees no undefined there, and this rule would strip every such mark.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // async without await is how a function that may throw returns a rejection instead,
      // and how a method meets a Promise-returning interface.
      '@typescript-eslint/require-await': 'off',
      // `_name` is a deliberate discard; a rest sibling drops the fields named beside it.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // A `let` assigned once, after a closure that reads it was made (a late binding).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests and benches read JSON and gRPC replies typed any to assert on them, and pass
      // methods of fakes around: the type-safety rules for production code do not fit them.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
    },
  },
  // mocha's reporter API is CommonJS.
  { files: ['**/*.cts'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', module: 'readonly', require: 'readonly' },
    },
  },
);
