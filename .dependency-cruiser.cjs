/**
 * The layers of src/, top to bottom, each importing only from its own layer and those below:
 *   cli → daemon → cri → streaming, container → sandbox, runtime → image, netns, oci, config
 *   → util, types and the root modules (errors, log, version).
 * Only src/cri (the server's handlers) and src/cli (the CLI's clients) touch gRPC or the
 * generated protocol types: the services below know neither. No import cycles anywhere.
 * Run by `npm run lint` (after eslint) over src/.
 */
const ABOVE = {
  daemon: ['cli'],
  cri: ['cli', 'daemon'],
  streaming: ['cli', 'daemon', 'cri'],
  container: ['cli', 'daemon', 'cri'],
  sandbox: ['cli', 'daemon', 'cri', 'streaming', 'container'],
  runtime: ['cli', 'daemon', 'cri', 'streaming', 'container'],
  image: ['cli', 'daemon', 'cri', 'streaming', 'container', 'sandbox', 'runtime'],
  netns: ['cli', 'daemon', 'cri', 'streaming', 'container', 'sandbox', 'runtime'],
  oci: ['cli', 'daemon', 'cri', 'streaming', 'container', 'sandbox', 'runtime'],
  config: ['cli', 'daemon', 'cri', 'streaming', 'container', 'sandbox', 'runtime'],
};
const BOTTOM_ABOVE = ['cli', 'daemon', 'cri', 'streaming', 'container', 'sandbox', 'runtime', 'image', 'netns', 'oci', 'config'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: modules that need each other belong in one module, or a shared one below both.',
      from: {},
      to: { circular: true },
    },
    ...Object.entries(ABOVE).map(([layer, above]) => ({
      name: `layer-${layer}`,
      severity: 'error',
      comment: `src/${layer} imports only from its own layer and those below it.`,
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${above.join('|')})/` },
    })),
    {
      name: 'layer-bottom',
      severity: 'error',
      comment: 'src/util, src/types and the root modules are the bottom layer: they import nothing above.',
      from: { path: '^src/(util/|types/|[^/]+\\.ts$)' },
      to: { path: `^src/(${BOTTOM_ABOVE.join('|')})/` },
    },
    {
      name: 'grpc-only-at-the-edges',
      severity: 'error',
      comment: 'Only src/cri (handlers) and src/cli (clients) speak gRPC: the services below know neither the generated types nor the gRPC libraries.',
      from: { path: '^src/', pathNot: '^src/(cri|cli|generated)/' },
      to: { path: '(^src/generated/|node_modules/@grpc/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // The .ts sources import each other as .js (NodeNext): resolved to the .ts files.
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
