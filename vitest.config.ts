import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace tools import 'p2tui'; outside vitest a Node resolve hook maps it (src/tools/resolution.ts), inside
  // vitest its module runner resolves it, so tell it where p2tui is.
  resolve: { alias: { p2tui: fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Ink's colours follow chalk's terminal detection; tests of the TUI's colour switch need them on.
    env: { FORCE_COLOR: '1' },
  },
});
