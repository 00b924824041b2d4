import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError, fileFailureOf } from '../../core/errors.ts';
import { makeFolder } from '../../core/folders.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { INIT_FILES } from './init-templates.ts';
import { p2tuiCommand, shellWord } from './next-steps.ts';

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
      const { command: p2tui, linkHint } = p2tuiCommand();
      ctx.output.line(paint(c, 'bold', `  ${cd}${p2tui} run assistant "Count the words of: the quick brown fox"`));
      ctx.output.line(paint(c, 'bold', `  ${p2tui} agents list`));
      if (linkHint !== undefined) ctx.output.line(linkHint);
    }
    return { exitCode: EXIT.ok, json: { dir, files: Object.keys(INIT_FILES) } };
  },
});
