import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UserError, fileFailureOf } from '../../core/errors.ts';
import { makeFolder } from '../../core/folders.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { PACKAGE, p2tuiCommand, shellWord } from './next-steps.ts';

/**
 * The demo workspace, as shipped in the package (package.json "files" lists the same entries): the personas, their
 * tools, the judge's rubric, evaluator and score policy, the rollouts, and the settings that tie them together.
 */
export const DEMO_ENTRIES = [
  'p2tui.yaml',
  'personas',
  'tools',
  'rubrics',
  'evaluators',
  'policies',
  'rollouts',
] as const;

export const demoCommand = defineCommand({
  path: ['demo'],
  summary: 'Copy the demo workspace (agents, tools, judge, ledger, rollouts) into a folder to try p2tui',
  args: {
    dir: { description: 'Folder to copy it into (default: ./p2tui-demo)' },
  },
  options: {
    force: {
      type: 'boolean',
      description: 'Copy into a folder that is not empty (files of the same name are replaced)',
    },
  },
  examples: ['p2tui demo && cd p2tui-demo && p2tui'],
  async run(ctx, input) {
    const dir = resolve(ctx.workspaceDir, input.args.dir ?? 'p2tui-demo');
    if (existsSync(dir) && !statSync(dir).isDirectory()) {
      throw new UserError('E_FILE_EXISTS', `demo: ${dir} is a file, not a folder; nothing was copied`, {
        hint: 'Name a new or empty folder for the demo.',
      });
    }
    // A folder with anything in it may be someone's work: copying over it needs saying so.
    const present = existsSync(dir) ? readdirSync(dir) : [];
    if (present.length > 0 && input.options.force !== true) {
      throw new UserError('E_WORKSPACE', `demo: ${dir} is not empty; nothing was copied`, {
        hint: 'Pick a new folder, or add --force to copy into it anyway (files of the same name are replaced).',
      });
    }
    const copied: string[] = [];
    for (const entry of DEMO_ENTRIES) {
      const from = join(PACKAGE, entry);
      if (!existsSync(from)) {
        throw new UserError('E_INTERNAL', `demo: this copy of p2tui has no ${entry} (looked in ${PACKAGE})`, {
          hint: 'Reinstall p2tui: its package carries the demo workspace.',
        });
      }
      try {
        makeFolder(dir);
        cpSync(from, join(dir, entry), { recursive: true, force: true });
      } catch (error) {
        throw fileFailureOf(error, `demo: cannot copy ${entry} into ${dir}`) ?? error;
      }
      copied.push(statSync(from).isDirectory() ? `${entry}/` : entry);
    }
    if (!ctx.output.json) {
      const c = ctx.output.color;
      const { command: p2tui, linkHint } = p2tuiCommand();
      // A folder below this one as typed (`p2tui-demo`); one elsewhere as its full path, not `../../tmp/x`.
      const below = relative(process.cwd(), dir);
      const cd = `cd ${shellWord(below === '' ? '.' : below.startsWith('..') ? dir : below)} && `;
      ctx.output.line(`Copied the demo workspace into ${dir}: ${copied.join(' ')}`);
      ctx.output.line('');
      ctx.output.line('Next:');
      ctx.output.line(
        paint(c, 'bold', `  ${cd}${p2tui}`) + '   (the TUI: press n, pick an agent, type a message; ? lists the keys)',
      );
      ctx.output.line(
        paint(
          c,
          'bold',
          `  ${cd}${p2tui} run agent_alpha "What's the weather in Paris and who leads the Premier League?"`,
        ),
      );
      ctx.output.line(paint(c, 'bold', `  ${cd}${p2tui} rollout run rollouts/demo_rollout.yaml`));
      if (linkHint !== undefined) ctx.output.line(linkHint);
    }
    return { exitCode: EXIT.ok, json: { dir, files: copied } };
  },
});
