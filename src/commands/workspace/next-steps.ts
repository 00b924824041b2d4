import { accessSync, constants } from 'node:fs';
import { delimiter, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's folder (the same from src/ and from dist/: both are three levels down). */
export const PACKAGE = fileURLToPath(new URL('../../..', import.meta.url)).replace(/[\\/]$/, '');
const BIN = join(PACKAGE, 'bin', 'p2tui.js');

/**
 * How to type p2tui in the next steps a command prints, so they work as printed. Installed from the registry
 * (inside a node_modules folder): `npx p2tui`, which finds the installed copy from any folder below the project,
 * while a bare `p2tui` is on PATH only inside npm's own scripts. From a clone: `p2tui` once `npm link` put it on
 * PATH, else this package's bin (`npx p2tui` in a new folder would ask the registry).
 */
export function p2tuiCommand(): { command: string; linkHint?: string } {
  if (PACKAGE.split(sep).includes('node_modules')) return { command: 'npx p2tui' };
  if (onPath('p2tui')) return { command: 'p2tui' };
  return {
    command: `node ${shellWord(BIN)}`,
    linkHint: `(p2tui is not on your PATH: run \`npm link\` in ${shellWord(PACKAGE)} once to type just \`p2tui\`)`,
  };
}

/** Whether `name` is an executable on PATH. */
function onPath(name: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A path as one shell word (quoted when it has anything a shell would split or expand). */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
