/**
 * The import boundaries of src/, checked by `npm run lint` (and so by `npm test`). The layers, top to bottom: a
 * folder imports only folders on rows below its own, never one on its own row. The README's architecture section
 * shows the same table; change both together.
 */
const LAYERS = [
  ['cli'], // the entry point: argument parsing, exit codes, the composition of a command run
  ['tui'], // the full-screen session (Ink), over the app and the commands' renderers
  ['commands'], // one module per command, typed by defineCommand
  ['report'], // self-contained HTML reports of rollouts and sessions, plots drawn with Vega-Lite
  ['rollout'], // experiments: cells, their runner, the queue, statistics
  ['telemetry'], // a session's log as OpenTelemetry GenAI spans, exported over OTLP
  ['app'], // the composition root: workspace, store, engine, judge, policies, arbiter, wallets
  ['judge'], // evaluators, the judge runner, score policies
  ['engine'], // sessions: the FSM, the runtime, branching, replay
  ['agents'], // personas
  ['tools', 'models'], // tool definitions and MCP; model providers
  ['ledger'], // wallets on the embedded ledger or Canton
  ['bus'], // live events over the store
  ['store'], // SQLite: every table and every SQL statement
  ['core'], // pure helpers: ids, JSON, errors, the clock, diffs
];

/**
 * The engine declares its ports (engine/ports.ts) and the app plugs implementations in: from the rows below it, it
 * may import types only (a persona's shape, a tool's interface), never code.
 */
const TYPES_ONLY = { engine: ['agents', 'tools', 'models', 'ledger'] };

const rank = new Map(LAYERS.flatMap((row, i) => row.map((folder) => [folder, i])));
const all = [...rank.keys()];
const any = (folders) => `^src/(${folders.join('|')})/`;

const layerRules = all.flatMap((folder) => {
  const notBelow = all.filter((other) => other !== folder && rank.get(other) <= rank.get(folder));
  const rules = [];
  if (notBelow.length > 0 && folder !== 'core') {
    rules.push({
      name: `${folder}-imports-only-below`,
      comment: `${folder}/ may import only folders below it in the layer table (the README's architecture section).`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: any(notBelow) },
    });
  }
  const typesOnly = TYPES_ONLY[folder];
  if (typesOnly !== undefined) {
    rules.push({
      name: `${folder}-types-only-from-${typesOnly.join('-')}`,
      comment: `${folder}/ takes implementations through its ports: from ${typesOnly.join(', ')} it imports types only.`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: any(typesOnly), dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'core-imports-nothing',
      comment: 'core/ is the bottom: it imports no other folder of src/.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'folder-in-the-table',
      comment: 'Every folder of src/ has a row in the layer table: add a new one to LAYERS (and the README).',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: any(all) },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between files (type-only imports included): a cycle means a module is cut wrong.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing fails at run time.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are seen (and told apart): the engine's rule depends on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js'],
      // ESM packages (ink, the MCP SDK) resolve through their `exports`, as Node resolves them.
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
