import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests choose colour themselves (FORCE_COLOR below; NO_COLOR for the processes they start): an ambient NO_COLOR,
// as CI machines set, would only make Node warn in every worker that it is overridden.
delete process.env['NO_COLOR'];

export default defineConfig({
  // Workspace tools import 'p2tui'; outside vitest a Node resolve hook maps it (src/tools/resolution.ts), inside
  // vitest its module runner resolves it, so tell it where p2tui is.
  resolve: { alias: { p2tui: fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at once even on two cores (vitest's default is cores − 1, so one here): most files wait on the
    // processes they start (CLI runs, servers, a pseudo-terminal), so a second file uses the idle core. 595 s → 395 s
    // for the whole suite on this 2-core machine, every file passing.
    maxWorkers: 2,
    // Ink's colours follow chalk's terminal detection; tests of the TUI's colour switch need them on.
    env: { FORCE_COLOR: '1' },
  },
});
