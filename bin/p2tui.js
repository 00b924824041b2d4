#!/usr/bin/env node
// The p2tui command. Plain JavaScript that any Node can parse, so an old Node gets a clear message instead of a
// crash (better-sqlite3 13 segfaults on Node 20).
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

var REQUIRED = [22, 12];
var parts = process.versions.node.split('.').map(Number);
if (parts[0] < REQUIRED[0] || (parts[0] === REQUIRED[0] && parts[1] < REQUIRED[1])) {
  process.stderr.write(
    'p2tui needs Node ' +
      REQUIRED.join('.') +
      ' or newer; this is Node ' +
      process.version +
      '.\n' +
      'Install a current Node (for example: npm install --prefix ~/.node24 node@24 && export PATH=~/.node24/node_modules/node/bin:$PATH)\n' +
      'and run p2tui again.\n',
  );
  process.exit(1);
}

// Compiled code is cached on disk (in the system's temp folder) from the second start on: the TUI opens sooner.
if (typeof nodeModule.enableCompileCache === 'function') nodeModule.enableCompileCache();

var entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'p2tui is not built yet: run `npm install` (or `npm run build`) in ' +
      fileURLToPath(new URL('..', import.meta.url)) +
      '\n',
  );
  process.exit(1);
}
// React's development build (the default when NODE_ENV is unset) renders several times slower and is meant for
// React's own tests; the TUI is an application.
if (process.env.NODE_ENV === undefined) process.env.NODE_ENV = 'production';
var cli = await import(entry.href);
process.exitCode = await cli.main(process.argv.slice(2));
