// Builds dist/ for the bin. A clean build so a renamed source file never leaves a stale module behind.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dist = new URL('../dist/', import.meta.url);
rmSync(dist, { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);

// The commands' declarations for the CLI's start (src/cli/catalog.ts), written from the built registry itself so
// they cannot drift from it: each command with the module (under dist/commands/) and the export it is found in.
const commandsDir = new URL('commands/', dist);
const { COMMANDS } = await import(new URL('registry.js', commandsDir).href);
const modules = readdirSync(commandsDir, { recursive: true })
  .filter((file) => file.endsWith('.js') && file !== 'registry.js')
  .sort();
/** Where each command object is exported: its own export first (a module of its own loads less than a list's). */
const found = new Map();
const arrays = new Map();
for (const file of modules) {
  const exports = await import(new URL(file, commandsDir).href);
  for (const [name, value] of Object.entries(exports)) {
    if (COMMANDS.includes(value) && !found.has(value)) found.set(value, { module: file, export: name });
    if (Array.isArray(value))
      value.forEach((item, index) => {
        if (COMMANDS.includes(item) && !arrays.has(item)) arrays.set(item, { module: file, export: name, index });
      });
  }
}
const commands = COMMANDS.map((command) => {
  const where = found.get(command) ?? arrays.get(command);
  if (where === undefined) {
    process.stderr.write(`build: command '${command.path.join(' ')}' is exported by no module under src/commands/\n`);
    process.exit(1);
  }
  const { run: _run, ...declaration } = command;
  return { ...declaration, ...where };
});
writeFileSync(new URL('manifest.json', commandsDir), JSON.stringify({ commands }));
// Importing every command module started nothing that keeps running; exit without waiting on a stray handle.
process.exit(0);
