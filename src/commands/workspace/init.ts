import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, fileFailureOf } from '../../core/errors.ts';
import { makeFolder } from '../../core/folders.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { INIT_FILES } from './init-templates.ts';

export const initCommand = defineCommand({
  path: ['init'],
  summary: 'Create a workspace: example personas, a tool and a rollout',
  args: {
    dir: { description: 'Folder to create it in (default: the current folder)' },
  },
  options: {
    force: { type: 'boolean', description: 'Overwrite files that already exist' },
  },
  examples: ['p2tui init my-team && cd my-team && p2tui run assistant "Count the words of: hello world"'],
  async run(ctx, input) {
    const dir = resolve(ctx.workspaceDir, input.args.dir ?? '.');
    const { force } = input.options;
    if (existsSync(dir) && !statSync(dir).isDirectory()) {
      throw new UserError('E_FILE_EXISTS', `init: ${dir} is a file, not a folder; nothing was written`, {
        hint: 'Name a new or existing folder for the workspace.',
      });
    }
    const clashes = Object.keys(INIT_FILES).filter((f) => existsSync(join(dir, f)));
    if (clashes.length > 0 && !force) {
      throw new UserError('E_WORKSPACE', `${dir} already has ${clashes.join(', ')}; nothing was written`, {
        hint: 'Use --force to overwrite them, or pick another folder.',
      });
    }
    for (const [file, text] of Object.entries(INIT_FILES)) {
      const path = join(dir, file);
      try {
        makeFolder(dirname(path));
        writeFileSync(path, text);
      } catch (error) {
        // An unwritable or full disk is the folder's problem, not p2tui's: say which file and why.
        throw fileFailureOf(error, `init: cannot write ${path}`) ?? error;
      }
    }
    if (!ctx.output.json) {
      const c = ctx.output.color;
      ctx.output.line(`Created a p2tui workspace in ${dir}:`);
      for (const file of Object.keys(INIT_FILES)) ctx.output.line(`  ${file}`);
      ctx.output.line('');
      ctx.output.line('Next:');
      const cd = input.args.dir === undefined ? '' : `cd ${shellWord(input.args.dir)} && `;
      const p2tui = onPath('p2tui') ? 'p2tui' : `node ${shellWord(BIN)}`;
      ctx.output.line(paint(c, 'bold', `  ${cd}${p2tui} run assistant "Count the words of: the quick brown fox"`));
      ctx.output.line(paint(c, 'bold', `  ${p2tui} agents list`));
      if (p2tui !== 'p2tui')
        ctx.output.line(
          `(p2tui is not on your PATH: run \`npm link\` in ${shellWord(PACKAGE)} once to type just \`p2tui\`)`,
        );
    }
    return { exitCode: EXIT.ok, json: { dir, files: Object.keys(INIT_FILES) } };
  },
});

/** This package's folder and its command (the same from src/ and from dist/: both are three levels down). */
const PACKAGE = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
const BIN = join(PACKAGE, 'bin', 'p2tui.js');

/**
 * Whether `name` is an executable on PATH. The printed next step must work as printed: from a clone nothing put
 * `p2tui` on PATH (and `npx p2tui` in the new folder asks the registry), so then the command names this package's bin.
 */
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
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
