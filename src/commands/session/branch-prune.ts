import { UserError } from '../../core/errors.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { isHolderAlive } from '../../store/leases.ts';
import type { BranchRow } from '../../store/sessions.ts';
import { defineCommand } from '../define.ts';
import { paint, plural, table } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';

/**
 * `conversation prune <session>`: P2Engine's command of that name, which deletes a session's old branches. It is
 * the one `conversation` command that is not `session`'s: `session prune` deletes whole sessions.
 */

const DAY_MS = 86_400_000;

/** A branch and whether it goes: the reason it stays when it does. */
export interface BranchVerdict {
  readonly branch: BranchRow;
  readonly lastActivity: number;
  /** Why it is kept (undefined: it is old, and so is every branch that descends from it). */
  readonly kept?: string;
}

/**
 * Which branches of a session are old: not the first branch, not the checked-out one, no activity (an entry
 * recorded on it, or its creation) for `keepMs`, and no descendant that is kept (a branch's entries are part of
 * every branch forked from it, the checked-out one's ancestors included).
 */
export function judgeBranches(
  branches: readonly BranchRow[],
  head: string,
  activity: ReadonlyMap<string, number>,
  cutoff: number,
): BranchVerdict[] {
  const children = new Map<string, BranchRow[]>();
  for (const b of branches) if (b.parent !== null) children.set(b.parent, [...(children.get(b.parent) ?? []), b]);
  const verdicts = new Map<string, BranchVerdict>();
  const judge = (b: BranchRow): BranchVerdict => {
    const known = verdicts.get(b.id);
    if (known !== undefined) return known;
    const lastActivity = activity.get(b.id) ?? b.createdAt;
    // Children first: a kept child keeps its parent.
    const keptChild = (children.get(b.id) ?? []).map(judge).find((v) => v.kept !== undefined);
    const kept =
      b.parent === null
        ? 'the first branch'
        : b.id === head
          ? 'checked out'
          : keptChild !== undefined
            ? `branch ${keptChild.branch.id} is forked from it`
            : lastActivity > cutoff
              ? 'recent'
              : undefined;
    const verdict: BranchVerdict = { branch: b, lastActivity, ...(kept === undefined ? {} : { kept }) };
    verdicts.set(b.id, verdict);
    return verdict;
  };
  return branches.map(judge);
}

export const conversationPruneCommand = defineCommand({
  path: ['conversation', 'prune'],
  summary: "Delete a session's old branches (P2Engine's conversation prune): a dry run unless --execute",
  details:
    'An old branch is one that is neither the first branch nor the checked-out one, has had no activity (an entry ' +
    'recorded on it) for --keep-days days, and has no branch forked from it that is kept. Deleting one removes what ' +
    'was recorded on it (entries, conversations begun there, model calls, scores, artifacts no one else uses). ' +
    'Not to be confused with `p2tui session prune --older-than <d>`, which deletes whole sessions. ' +
    '(Every other `conversation` command is the `session` command of that name.)',
  args: {
    session: SESSION_ARG,
  },
  options: {
    'keep-days': {
      type: 'number',
      min: 0,
      value: '<n>',
      description: 'Keep branches with activity in the last n days (default 7)',
    },
    execute: { type: 'boolean', description: 'Delete them (without it, only list what would be deleted)' },
    'dry-run': { type: 'boolean', description: 'Only list what would be deleted (the default)' },
  },
  examples: ['p2tui conversation prune last', 'p2tui conversation prune s_1a2b --keep-days 30 --execute'],
  async run(ctx, input) {
    const { execute } = input.options;
    if (execute && input.options['dry-run'])
      throw new UserError('E_USAGE', 'give --execute or --dry-run, not both', {
        hint: 'Without either, prune only lists what it would delete.',
      });
    const keepDays = input.options['keep-days'] ?? 7;
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const now = ctx.clock.now();
    const verdicts = judgeBranches(
      store.sessions.branches(session.id),
      session.headBranch,
      store.bundles.branchActivity(session.id),
      now - keepDays * DAY_MS,
    );
    const doomed = verdicts.filter((v) => v.kept === undefined);
    if (execute && doomed.length > 0) {
      const holder = store.leases.holder(session.id);
      if (isHolderAlive(holder, now))
        throw new UserError(
          'E_LEASE_HELD',
          `session ${session.id} is being driven by pid ${holder.pid} on ${holder.host}`,
          {
            hint: `Prune its branches when it rests, or cancel it first: p2tui session cancel ${session.id}`,
          },
        );
      store.bundles.removeBranches(
        session.id,
        doomed.map((v) => v.branch.id),
      );
    }
    const describe = (
      v: BranchVerdict,
    ): { branch: string; label: string | null; lastActivity: string; ageDays: number } => ({
      branch: v.branch.id,
      label: v.branch.label,
      lastActivity: new Date(v.lastActivity).toISOString(),
      ageDays: Math.floor((now - v.lastActivity) / DAY_MS),
    });
    const json = {
      session: session.id,
      keepDays,
      executed: execute,
      [execute ? 'deleted' : 'wouldDelete']: doomed.map(describe),
      kept: verdicts.filter((v) => v.kept !== undefined).map((v) => ({ ...describe(v), reason: v.kept! })),
    };
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    const out = ctx.output;
    if (doomed.length === 0)
      out.line(`no branch of ${session.id} is older than ${plural(keepDays, 'day')}: nothing to prune`);
    else {
      out.line(
        execute
          ? `deleted ${plural(doomed.length, 'old branch', 'old branches')} of ${session.id}:`
          : `would delete ${plural(doomed.length, 'old branch', 'old branches')} of ${session.id} (dry run):`,
      );
      for (const line of table(
        doomed.map((v) => {
          const d = describe(v);
          // A label is what someone wrote: shown, not obeyed.
          return [
            d.branch,
            terminalText(d.label ?? ''),
            d.lastActivity.slice(0, 16).replace('T', ' '),
            `${d.ageDays}d`,
          ];
        }),
        ['branch', 'label', 'last activity (UTC)', 'age'],
        out.color,
      ))
        out.line(line);
    }
    const kept = verdicts.filter((v) => v.kept !== undefined);
    out.line(paint(out.color, 'gray', `kept ${kept.map((v) => `${v.branch.id} (${v.kept})`).join(', ')}`));
    if (!execute && doomed.length > 0)
      out.line(
        paint(
          out.color,
          'gray',
          `delete them with: p2tui conversation prune ${session.id} --keep-days ${keepDays} --execute`,
        ),
      );
    return { exitCode: EXIT.ok, json };
  },
});
