import { defineCommand } from '../define.ts';
import { SESSION_ARG, checkOutPath } from '../shared.ts';
import { EXIT, type CommandContext, type CommandResult } from '../types.ts';
import { REPORT_OPTIONS, openReport, reportPath, writeReport } from './output.ts';

/**
 * `report rollout|session <id>`: a self-contained HTML page (inline styles, inline SVG plots, no script, no network)
 * to open offline or send to someone who does not run p2tui. Read from the database alone, like the exports: a
 * workspace that changed since does not stop a report.
 */

async function deliver(
  ctx: CommandContext,
  what: { kind: 'rollout' | 'session'; id: string; dbPath: string; page: string },
  options: { out?: string | undefined; open?: boolean | undefined },
): Promise<CommandResult> {
  const file = reportPath(options.out, what.dbPath, what.id);
  writeReport(file, what.page);
  if (!ctx.output.json) ctx.output.line(`Report of ${what.kind} ${what.id} written to ${file}`);
  if (options.open === true) await openReport(ctx, file);
  return { exitCode: EXIT.ok, json: { [what.kind]: what.id, report: file, bytes: Buffer.byteLength(what.page) } };
}

export const reportRolloutCommand = defineCommand({
  path: ['report', 'rollout'],
  summary:
    'Write a rollout as one self-contained HTML page: statistics and plots, the grid, the spec, every transcript',
  args: { rollout: { description: 'Rollout id, unique prefix, or "last"', required: true } },
  options: REPORT_OPTIONS,
  async run(ctx, input) {
    // A missing folder is said before anything is read.
    if (input.options.out !== undefined) checkOutPath(input.options.out);
    const [{ findRollout }, { rolloutReport }] = await Promise.all([
      import('../../rollout/runner.ts'),
      import('../../report/rollout.ts'),
    ]);
    const store = await ctx.store({ existing: true });
    const rollout = findRollout(store, input.args.rollout);
    const page = await rolloutReport(store, rollout, new Date(ctx.clock.now()));
    return deliver(ctx, { kind: 'rollout', id: rollout.id, dbPath: store.path, page }, input.options);
  },
});

export const reportSessionCommand = defineCommand({
  path: ['report', 'session'],
  summary: 'Write a session as one self-contained HTML page: the conversation tree, branches, scores, payments, usage',
  args: { session: SESSION_ARG },
  options: REPORT_OPTIONS,
  async run(ctx, input) {
    if (input.options.out !== undefined) checkOutPath(input.options.out);
    const { sessionReport } = await import('../../report/session.ts');
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const page = await sessionReport(store, session, new Date(ctx.clock.now()));
    return deliver(ctx, { kind: 'session', id: session.id, dbPath: store.path, page }, input.options);
  },
});

export const reportCommands = [reportRolloutCommand, reportSessionCommand];
