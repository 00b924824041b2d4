import { existsSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { UserError } from '../../core/errors.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT, type Output } from '../types.ts';
import { p2tuiCommand, shellWord } from '../workspace/next-steps.ts';
import type { Outcome } from './apply.ts';
import type { MigrationPlan } from './plan.ts';

/*
 * `p2tui migrate p2engine <checkout>`: a p2tui workspace from a P2Engine checkout. The planning and writing modules
 * (YAML, zod, the demo's tools) load inside run(), so `--help` stays as light as the other commands'.
 */

export const migrateP2EngineCommand = defineCommand({
  path: ['migrate', 'p2engine'],
  summary: 'Write a p2tui workspace from a P2Engine checkout: personas, rollouts, rubrics, templates, tools',
  details:
    'Reads config/agents.yml, config/*.yml rollouts, infra/evals/rubrics/*.jinja, agents/templates/ and tools/*.py of ' +
    'the checkout (its repository root or its p2engine/ folder) and prints what was carried over, what was mapped ' +
    '(with the mapping) and what cannot be. Idempotent: a second run writes nothing. A file of the workspace that ' +
    'differs from what the migration would write is never overwritten without --force (then nothing is written, exit 3).',
  args: {
    checkout: { description: 'The P2Engine checkout (repository root or its p2engine/ folder)', required: true },
  },
  options: {
    out: {
      type: 'string',
      value: '<dir>',
      description: 'The workspace folder to write (default: the workspace, --workspace or .)',
    },
    'dry-run': { type: 'boolean', description: 'Print the report only; write nothing' },
    force: {
      type: 'boolean',
      description: 'Overwrite files of the workspace that differ from what the migration writes',
    },
  },
  examples: [
    'p2tui migrate p2engine ../P2Engine --out my-workspace --dry-run',
    'p2tui migrate p2engine ../P2Engine --out my-workspace && cd my-workspace && p2tui rollout validate rollouts/rollout_joke.yml',
  ],
  async run(ctx, input) {
    const checkout = resolve(input.args.checkout);
    const out = input.options.out === undefined ? resolve(ctx.workspaceDir) : resolve(input.options.out);
    if (existsSync(out) && !statSync(out).isDirectory()) {
      throw new UserError('E_FILE_EXISTS', `migrate: ${out} is a file, not a folder; nothing was written`, {
        hint: 'Name a new or existing folder for the workspace with --out <dir>.',
      });
    }
    const { findP2EngineFolder } = await import('./source.ts');
    const root = findP2EngineFolder(checkout);
    const { planMigration } = await import('./plan.ts');
    const plan = await planMigration(root, out);
    const { applyPlan } = await import('./apply.ts');
    const dryRun = input.options['dry-run'];
    const outcome = applyPlan(plan, out, { dryRun, force: input.options.force });
    if (!ctx.output.json) printReport(ctx.output, { root, out, plan, outcome, dryRun, force: input.options.force });
    return {
      exitCode: EXIT.ok,
      json: {
        source: root,
        out,
        dry_run: dryRun,
        files: outcome.files.map((f) => ({ from: f.from, to: f.to, status: f.status, written: f.written })),
        refused: outcome.refusal ?? null,
        written: outcome.written,
        unchanged: outcome.unchanged,
        overwritten: outcome.overwritten,
        kept: plan.kept,
        mapped: plan.mapped,
        cannot: plan.cannot,
        tools: plan.tools.map((t) => ({ name: t.name, file: t.file, line: t.line, p2tui: t.p2tui, note: t.note })),
      },
    };
  },
});

interface Report {
  readonly root: string;
  readonly out: string;
  readonly plan: MigrationPlan;
  readonly outcome: Outcome;
  readonly dryRun: boolean;
  readonly force: boolean;
}

function printReport(output: Output, r: Report): void {
  const c = output.color;
  output.line(`P2Engine folder ${r.root} → workspace ${r.out}${r.dryRun ? ' (dry run: nothing written)' : ''}`);
  output.line('');
  output.line(paint(c, 'bold', 'Carried (file → file):'));
  const width = Math.max(0, ...r.outcome.files.map((f) => f.from.length));
  for (const f of r.outcome.files) output.line(`  ${f.from.padEnd(width)} → ${f.to}  ${statusText(f, r)}`);
  for (const kept of r.plan.kept) output.line(`  kept: ${kept}`);
  output.line('');
  output.line(paint(c, 'bold', 'Mapped:'));
  for (const line of byAgents(r.plan.mapped)) output.line(`  ${line}`);
  if (r.plan.mapped.length === 0) output.line('  (nothing)');
  output.line('');
  output.line(paint(c, 'bold', 'Cannot:'));
  for (const line of byAgents(r.plan.cannot)) output.line(`  ${line}`);
  if (r.plan.cannot.length === 0) output.line('  (nothing)');
  output.line('');
  const { written, unchanged, overwritten } = r.outcome;
  const total = r.outcome.files.length;
  if (r.dryRun) {
    const fresh = r.outcome.files.filter((f) => f.status === 'new').length;
    const differing = r.outcome.files.filter((f) => f.status === 'differs').length;
    output.line(
      `Dry run: ${fresh} file${fresh === 1 ? '' : 's'} would be written, ${unchanged} unchanged` +
        (differing === 0
          ? '.'
          : `, ${differing} differ${differing === 1 ? 's' : ''} (${r.force ? 'would be overwritten: --force' : 'refused without --force'}).`),
    );
    if (r.outcome.refusal !== undefined) output.line(`A run would be refused (exit 3): ${r.outcome.refusal}`);
  } else if (written === 0) {
    output.line(`Nothing written: every file is unchanged (${total} file${total === 1 ? '' : 's'}).`);
  } else {
    output.line(
      `Wrote ${written} file${written === 1 ? '' : 's'} (${overwritten} overwritten), ${unchanged} unchanged.`,
    );
  }
  const rollouts = r.outcome.files.filter((f) => f.to.startsWith('rollouts/')).map((f) => f.to);
  if (rollouts.length > 0 && !r.dryRun) {
    const { command: p2tui } = p2tuiCommand();
    const below = relative(process.cwd(), r.out);
    const cd = below === '' ? '' : `cd ${shellWord(below.startsWith('..') ? r.out : below)} && `;
    output.line('');
    output.line('Next (offline, on the scripted simulator and judge):');
    output.line(paint(c, 'bold', `  ${cd}${p2tui} rollout validate ${rollouts[0]}`));
    output.line(paint(c, 'bold', `  ${cd}${p2tui} rollout run ${rollouts[0]} --model scripted/default`));
  }
}

function statusText(f: Outcome['files'][number], r: Report): string {
  if (f.status === 'unchanged') return '(unchanged)';
  if (f.status === 'new') return r.dryRun ? '(would write)' : '(written)';
  if (r.dryRun) return r.force ? '(differs: would overwrite)' : '(differs: refused without --force)';
  return '(overwritten)';
}

/**
 * Lines that say the same of several agents (`agent a: temperature: …`, `agent b: temperature: …`) as one
 * (`agents a, b: temperature: …`), in the place of the first: six shipped agents made the report six times longer
 * without saying more. `--json` keeps one line per agent.
 */
export function byAgents(lines: readonly string[]): string[] {
  const AGENT_LINE = /^agent ([A-Za-z][\w-]*): (.*)$/s;
  const agents = new Map<string, string[]>();
  for (const line of lines) {
    const m = AGENT_LINE.exec(line);
    if (m !== null) agents.set(m[2]!, [...(agents.get(m[2]!) ?? []), m[1]!]);
  }
  const out: string[] = [];
  const said = new Set<string>();
  for (const line of lines) {
    const m = AGENT_LINE.exec(line);
    if (m === null) out.push(line);
    else if (!said.has(m[2]!)) {
      said.add(m[2]!);
      const ids = agents.get(m[2]!)!;
      out.push(ids.length === 1 ? line : `agents ${ids.join(', ')}: ${m[2]!}`);
    }
  }
  return out;
}
