import { writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { UserError } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import { expandCells } from '../../rollout/cells.ts';
import {
  cellJson,
  cellsCsv,
  compareRollouts,
  metricsOf,
  variantJson,
  variantReports,
  type VariantReport,
} from '../../rollout/report.ts';
import { RolloutRunner, type Progress, type RunOutcome } from '../../rollout/runner.ts';
import type { QueueCoordinator } from '../../rollout/queue.ts';
import { workspaceHash } from '../../rollout/workspace-hash.ts';
import { App } from '../../app/app.ts';
import { Store } from '../../store/store.ts';
import { loadRolloutSpec } from '../../rollout/spec.ts';
import { formatMeanCi } from '../../rollout/stats.ts';
import type { CellRow } from '../../store/rollouts.ts';
import { formatAge, paint, table } from '../render/text.ts';
import { EXIT, type Command, type CommandContext, type CommandInput } from '../types.ts';

function specPath(file: string): string {
  return isAbsolute(file) ? file : join(process.cwd(), file);
}

/** `--fail-under metric=value` gates, checked against every variant's mean. */
function gatesOf(input: CommandInput): { metric: string; min: number }[] {
  const raw = input.options['fail-under'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? (raw as string[]) : [String(raw)];
  return list.map((text) => {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(-?[0-9]*\.?[0-9]+)$/.exec(text.trim());
    if (m === null)
      throw new UserError('E_USAGE', `--fail-under '${text}' is not of the form <metric>=<value>`, {
        hint: 'For example --fail-under score=0.7',
      });
    return { metric: m[1]!, min: Number(m[2]) };
  });
}

/** One line, redrawn in place at a terminal; every tenth of the way (or at the end) otherwise. */
function progressPrinter(ctx: CommandContext): (p: Progress) => void {
  const out = ctx.output;
  let lastDecile = -1;
  return (p) => {
    const finished = p.done + p.failed;
    const width = 24;
    const filled = p.total === 0 ? width : Math.round((finished / p.total) * width);
    const eta = p.etaMs === null ? '' : ` · ~${Math.ceil(p.etaMs / 1000)} s left`;
    const text = `[${'█'.repeat(filled)}${'·'.repeat(width - filled)}] ${finished}/${p.total} cells · ${p.done} done · ${p.failed} failed · ${p.running} running · ${Math.round(p.elapsedMs / 1000)} s${eta} · $${p.costUsd.toFixed(4)}`;
    if (out.json) {
      const decile = p.total === 0 ? 10 : Math.floor((finished / p.total) * 10);
      if (decile !== lastDecile) out.warn(text);
      lastDecile = decile;
      return;
    }
    if (out.interactive) out.write(`\r${text}\x1b[K`);
    else {
      const decile = p.total === 0 ? 10 : Math.floor((finished / p.total) * 10);
      if (decile !== lastDecile) out.line(text);
      lastDecile = decile;
    }
  };
}

function printVariants(ctx: CommandContext, reports: readonly VariantReport[], metrics: readonly string[]): void {
  const c = ctx.output.color;
  const rows = reports.map((v) => [
    v.team,
    `${v.variant}${v.baseline ? ' (baseline)' : ''}`,
    String(v.cost.n) +
      (v.failed > 0 ? ` (+${v.failed} failed)` : '') +
      (v.cells - v.failed - v.cost.n > 0 ? ` (${v.cells - v.failed - v.cost.n} not run)` : ''),
    ...metrics.map((m) => {
      const s = v.metrics[m];
      const d = v.vsBaseline[m];
      const diff =
        d === undefined || d.mean === null
          ? ''
          : ` Δ${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)}${d.significant ? '*' : ''}`;
      return s === undefined ? '–' : `${formatMeanCi(s)}${diff}`;
    }),
    v.cost.mean === null ? '–' : `$${(v.cost.mean * v.cost.n).toFixed(4)}`,
    v.steps.mean === null ? '–' : v.steps.mean.toFixed(1),
    v.flaky.length === 0 ? '' : paint(c, 'yellow', `flaky: ${v.flaky.join(', ')}`),
  ]);
  for (const line of table(
    rows,
    ['team', 'variant', 'n', ...metrics.map((m) => `${m} (mean ± 95% CI)`), 'cost', 'steps', ''],
    c,
  ))
    ctx.output.line(line);
  if (reports.some((v) => Object.values(v.vsBaseline).some((d) => d.significant)))
    ctx.output.line(
      paint(
        c,
        'gray',
        "Δ: paired difference to the team's baseline over matched scenarios and seeds; * its 95% interval excludes 0",
      ),
    );
}

function report(
  ctx: CommandContext,
  outcome: RunOutcome,
  gates: readonly { metric: string; min: number }[],
): { exitCode: number; json?: JsonValue } {
  const { rollout, cells } = outcome;
  const reports = variantReports(rollout, cells);
  const metrics = metricsOf(cells);
  const failedGates = gates.flatMap((g) =>
    reports.flatMap((v) => {
      const s = v.metrics[g.metric];
      return s === undefined || s.mean === null || s.mean < g.min
        ? [{ ...g, team: v.team, variant: v.variant, value: s?.mean ?? null }]
        : [];
    }),
  );
  const unknownGate = gates.find((g) => !metrics.includes(g.metric));
  if (unknownGate !== undefined)
    throw new UserError(
      'E_USAGE',
      `--fail-under ${unknownGate.metric}=…: no cell was scored on '${unknownGate.metric}' (metrics: ${metrics.join(', ') || 'none'})`,
    );
  const exitCode = failedGates.length > 0 ? EXIT.failed : outcome.stopped !== null ? EXIT.interrupted : EXIT.ok;
  if (ctx.output.json) {
    return {
      exitCode,
      json: {
        rollout: rollout.id,
        name: rollout.name,
        status: rollout.status,
        stopped: outcome.stopped,
        cells: cells.map(cellJson),
        variants: reports.map(variantJson),
        gates: gates.map((g) => ({
          metric: g.metric,
          min: g.min,
          passed: !failedGates.some((f) => f.metric === g.metric),
        })),
      },
    };
  }
  if (ctx.output.interactive) ctx.output.line();
  printVariants(ctx, reports, metrics);
  const failed = cells.filter((c) => c.status === 'failed');
  for (const f of failed.slice(0, 5))
    ctx.output.line(
      paint(
        ctx.output.color,
        'red',
        `✗ ${f.team}/${f.variant}/${f.scenario} seed ${f.seed}: ${f.error ?? 'failed'}${f.session === null ? '' : ` (session ${f.session})`}`,
      ),
    );
  if (failed.length > 5)
    ctx.output.line(
      paint(
        ctx.output.color,
        'red',
        `… and ${failed.length - 5} more failed cells (p2tui rollout show ${rollout.id} --cells)`,
      ),
    );
  for (const g of failedGates)
    ctx.output.line(
      paint(
        ctx.output.color,
        'red',
        `gate ${g.metric} ≥ ${g.min}: ${g.team}/${g.variant} has ${g.value === null ? 'no score' : g.value.toFixed(3)}`,
      ),
    );
  if (outcome.stopped !== null) {
    const budget = /budget/.test(outcome.stopped);
    ctx.output.line(
      paint(
        ctx.output.color,
        'yellow',
        budget
          ? `Stopped: ${outcome.stopped}. Raise it in the spec and run it again (a resume keeps the spec it started with).`
          : `Stopped (${outcome.stopped}); run the rest with: p2tui rollout resume ${rollout.id}`,
      ),
    );
  } else
    ctx.output.line(
      paint(
        ctx.output.color,
        'gray',
        `rollout ${rollout.id} · details: p2tui rollout show ${rollout.id} · the grid: p2tui, then R`,
      ),
    );
  return { exitCode };
}

const run: Command = {
  path: ['rollout', 'run'],
  summary: 'Run a rollout spec: every team × variant × scenario × repeat as its own session, in parallel, judged',
  details:
    "Reads P2Engine's format (teams with initial_message, base, variants as a list or a dict of lists, eval) and p2tui's extensions (scenarios, repeats, seeds, baseline, budgets, ledger, approval, judge). " +
    'Each cell runs with its own ledger parties unless the spec shares them. Ctrl-C stops starting cells; resume runs the rest. --replay serves every model call from an earlier rollout of the same spec (no model calls).',
  args: [{ name: 'file', description: 'The spec, e.g. rollouts/example.yaml', required: true }],
  options: [
    {
      name: 'fail-under',
      type: 'string',
      value: '<metric>=<value>',
      description: "Exit 1 when a variant's mean of a metric is below the value (repeatable)",
      multiple: true,
    },
    {
      name: 'concurrency',
      type: 'number',
      value: '<n>',
      description: "Cells at once (default: the spec's concurrency)",
    },
    {
      name: 'replay',
      type: 'string',
      value: '<rollout>',
      description: "Serve every cell from that rollout's recorded sessions (no model calls)",
    },
    {
      name: 'queue',
      type: 'string',
      value: 'redis://host:port',
      description: 'Put the cells on a BullMQ queue for `p2tui worker` processes instead of running them here',
    },
  ],
  examples: [
    'p2tui rollout run rollouts/temperature.yaml',
    'p2tui rollout run rollouts/example.yaml --json --fail-under score=0.6',
    'p2tui rollout run rollouts/example.yaml --replay last',
  ],
  async run(ctx, input) {
    const workspace = await ctx.workspace();
    const file = input.args['file']!;
    const spec = loadRolloutSpec(specPath(file), workspace, file);
    const gates = gatesOf(input);
    for (const note of spec.notes) ctx.output.warn(note);
    const app = await ctx.app();
    const runner = new RolloutRunner(app);
    const concurrency = input.options['concurrency'] === undefined ? undefined : Number(input.options['concurrency']);
    if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1))
      throw new UserError('E_USAGE', '--concurrency must be a whole number from 1');
    const replayOf =
      typeof input.options['replay'] === 'string' ? runner.require(input.options['replay']).id : undefined;
    const cells = expandCells(spec);
    if (!ctx.output.json)
      ctx.output.line(
        paint(
          ctx.output.color,
          'gray',
          `${spec.name}: ${cells.length} cells (${spec.teams.length} team${spec.teams.length === 1 ? '' : 's'}, ${spec.teams.reduce((a, t) => a + t.variants.length, 0)} variants, ${spec.seeds.length} repeat${spec.seeds.length === 1 ? '' : 's'})${replayOf === undefined ? '' : `, replayed from ${replayOf}`}`,
        ),
      );
    if (typeof input.options['queue'] === 'string') {
      // Refused before anything is queued: each needs this database while the cells run.
      if (replayOf !== undefined)
        throw new UserError(
          'E_USAGE',
          '--replay and --queue cannot go together (the recordings are in this database, not on the workers)',
          { hint: 'Replay without --queue: it makes no model calls anyway.' },
        );
      if (spec.raw.fork_from !== undefined)
        throw new UserError(
          'E_USAGE',
          'a rollout with fork_from cannot run on a queue (its cells are branches of a session in this database)',
          { hint: 'Run it without --queue.' },
        );
      if (spec.raw.ledger.shared_ledger)
        throw new UserError(
          'E_USAGE',
          'a rollout with shared_ledger: true cannot run on a queue (its cells would pay from one ledger in several places)',
          { hint: 'Run it without --queue.' },
        );
    }
    const queue =
      typeof input.options['queue'] === 'string' ? await connectQueue(ctx, input.options['queue']) : undefined;
    try {
      const outcome = await runner.start(spec, {
        signal: ctx.signal,
        onProgress: progressPrinter(ctx),
        // On a queue, as many cells in flight as the spec's concurrency or 100 (the workers bound the real parallelism):
        // a total budget or Ctrl-C then stops what is not queued yet.
        ...(queue === undefined
          ? {}
          : { executor: queue.executor(), concurrency: concurrency ?? Math.max(spec.raw.concurrency, 100) }),
        ...(concurrency === undefined || queue !== undefined ? {} : { concurrency }),
        ...(replayOf === undefined ? {} : { replayOf }),
      });
      return report(ctx, outcome, gates);
    } finally {
      await queue?.close();
    }
  },
};

const resume: Command = {
  path: ['rollout', 'resume'],
  summary: 'Run the cells of a rollout that are not done yet (interrupted, failed or never started)',
  args: [{ name: 'rollout', description: 'Rollout id, unique prefix, or "last"', required: true }],
  options: [
    {
      name: 'fail-under',
      type: 'string',
      value: '<metric>=<value>',
      description: "Exit 1 when a variant's mean of a metric is below the value (repeatable)",
      multiple: true,
    },
    { name: 'concurrency', type: 'number', value: '<n>', description: 'Cells at once' },
    {
      name: 'queue',
      type: 'string',
      value: 'redis://host:port',
      description: 'Run the remaining cells through the queue (and pick up results workers finished meanwhile)',
    },
  ],
  async run(ctx, input) {
    const app = await ctx.app();
    const runner = new RolloutRunner(app);
    const gates = gatesOf(input);
    const concurrency = input.options['concurrency'] === undefined ? undefined : Number(input.options['concurrency']);
    const queue =
      typeof input.options['queue'] === 'string' ? await connectQueue(ctx, input.options['queue']) : undefined;
    try {
      const outcome = await runner.resume(input.args['rollout']!, {
        signal: ctx.signal,
        onProgress: progressPrinter(ctx),
        ...(queue === undefined ? {} : { executor: queue.executor(), concurrency: concurrency ?? 100 }),
        ...(concurrency === undefined || queue !== undefined ? {} : { concurrency }),
      });
      return report(ctx, outcome, gates);
    } finally {
      await queue?.close();
    }
  },
};

const validate: Command = {
  path: ['rollout', 'validate'],
  summary:
    'Check a rollout spec without running it: every error with its line, column and key; unknown agents, tools and rubrics',
  args: [{ name: 'file', description: 'The spec', required: true }],
  options: [],
  async run(ctx, input) {
    const workspace = await ctx.workspace();
    const file = input.args['file']!;
    const spec = loadRolloutSpec(specPath(file), workspace, file);
    const cells = expandCells(spec);
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: {
          name: spec.name,
          hash: spec.hash,
          cells: cells.length,
          teams: spec.teams.map((t) => ({
            id: t.id,
            variants: t.variants.map((v) => ({ id: v.id, agent: v.agent, settings: v.settings as JsonValue })),
            scenarios: t.scenarios.length,
            baseline: t.baseline,
          })),
          notes: [...spec.notes],
        },
      };
    }
    ctx.output.line(paint(ctx.output.color, 'green', `${file}: valid · ${cells.length} cells`));
    for (const t of spec.teams) {
      ctx.output.line(
        `  team ${t.id}: ${t.variants.length} variants × ${t.scenarios.length} scenario${t.scenarios.length === 1 ? '' : 's'} × ${spec.seeds.length} repeat${spec.seeds.length === 1 ? '' : 's'} (baseline ${t.baseline})`,
      );
      for (const v of t.variants)
        ctx.output.line(
          paint(
            ctx.output.color,
            'gray',
            `    ${v.id}: ${v.agent} ${Object.entries(v.settings)
              .filter(([k]) => k !== 'agent_id')
              .map(([k, val]) => `${k}=${typeof val === 'string' ? val : JSON.stringify(val)}`)
              .join(' ')}`,
          ),
        );
    }
    for (const note of spec.notes) ctx.output.line(paint(ctx.output.color, 'yellow', note));
    return { exitCode: EXIT.ok };
  },
};

const list: Command = {
  path: ['rollout', 'list'],
  summary: 'Rollouts run in this workspace, newest first',
  args: [],
  options: [{ name: 'limit', type: 'number', value: '<n>', description: 'How many (default 20)' }],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const limit = input.options['limit'] === undefined ? 20 : Number(input.options['limit']);
    const rows = store.rollouts.list(limit).map((r) => {
      const cells = store.rollouts.cells(r.id);
      return {
        r,
        done: cells.filter((c) => c.status === 'done').length,
        failed: cells.filter((c) => c.status === 'failed').length,
        total: cells.length,
      };
    });
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: rows.map(({ r, done, failed, total }) => ({
          id: r.id,
          name: r.name,
          file: r.file,
          status: r.status,
          created_at: r.createdAt,
          cells: total,
          done,
          failed,
        })),
      };
    if (rows.length === 0) ctx.output.line('no rollouts yet (run one with: p2tui rollout run rollouts/<spec>.yaml)');
    for (const line of table(
      rows.map(({ r, done, failed, total }) => [
        r.id,
        r.name,
        r.status,
        `${done}/${total}${failed > 0 ? ` (${failed} failed)` : ''}`,
        formatAge(ctx.clock.now() - r.createdAt),
      ]),
      ['rollout', 'name', 'status', 'cells done', 'started'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const show: Command = {
  path: ['rollout', 'show'],
  summary:
    "A rollout's statistics per variant (mean, 95% CI, n, difference to the baseline, flaky cells), and with --cells every cell",
  args: [{ name: 'rollout', description: 'Rollout id, unique prefix, or "last"', required: true }],
  options: [{ name: 'cells', type: 'boolean', description: 'List every cell with its status, scores and session' }],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const rollout = new RolloutRunner(app).require(input.args['rollout']!);
    const cells = engine.store.rollouts.cells(rollout.id);
    const reports = variantReports(rollout, cells);
    const metrics = metricsOf(cells);
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: {
          rollout: rollout.id,
          name: rollout.name,
          status: rollout.status,
          file: rollout.file,
          cells: cells.map(cellJson),
          variants: reports.map(variantJson),
        },
      };
    const pending = cells.filter((c) => c.status === 'pending' || c.status === 'running').length;
    ctx.output.line(
      `${rollout.id} · ${rollout.name} (${rollout.file}) · ${rollout.status} · ${cells.length} cells${pending > 0 ? ` (${pending} not done: p2tui rollout resume ${rollout.id})` : ''}`,
    );
    printVariants(ctx, reports, metrics);
    if (input.options['cells'] === true) {
      const rows = cells.map((c) => [
        c.id,
        `${c.team}/${c.variant}/${c.scenario}`,
        String(c.seed),
        c.status,
        ...metrics.map((m) => formatScore(c, m)),
        c.session ?? '',
        c.error ?? '',
      ]);
      for (const line of table(
        rows,
        ['cell', 'team/variant/scenario', 'seed', 'status', ...metrics, 'session', 'error'],
        ctx.output.color,
      ))
        ctx.output.line(line);
    }
    return { exitCode: EXIT.ok };
  },
};

function formatScore(c: CellRow, metric: string): string {
  const v = c.metrics?.scores[metric];
  return v === undefined ? '' : v === null ? 'judge failed' : v.toFixed(2);
}

const compare: Command = {
  path: ['rollout', 'compare'],
  summary: 'Compare two rollouts (run at different times): per variant and metric, B − A with a 95% interval',
  args: [
    { name: 'a', description: 'The earlier rollout (id, prefix)', required: true },
    { name: 'b', description: 'The later rollout', required: true },
  ],
  options: [],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const runner = new RolloutRunner(app);
    const a = runner.require(input.args['a']!);
    const b = runner.require(input.args['b']!);
    const rows = compareRollouts(engine.store.rollouts.cells(a.id), engine.store.rollouts.cells(b.id));
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: {
          a: a.id,
          b: b.id,
          rows: rows.map((r) => ({
            team: r.team,
            variant: r.variant,
            metric: r.metric,
            a: r.a.mean,
            b: r.b.mean,
            diff: r.diff.mean,
            ci95: r.diff.ci === null ? null : [r.diff.ci[0], r.diff.ci[1]],
            significant: r.diff.significant,
            paired: r.paired,
          })),
        },
      };
    }
    ctx.output.line(`B − A: ${b.id} (${b.name}) against ${a.id} (${a.name})`);
    const table_ = rows.map((r) => [
      r.team,
      r.variant,
      r.metric,
      formatMeanCi(r.a),
      formatMeanCi(r.b),
      r.diff.mean === null
        ? '–'
        : `${r.diff.mean >= 0 ? '+' : ''}${r.diff.mean.toFixed(3)}${r.diff.ci === null ? '' : ` [${r.diff.ci[0].toFixed(3)}, ${r.diff.ci[1].toFixed(3)}]`}${r.diff.significant ? ' *' : ''}`,
      r.paired ? 'paired' : 'independent',
    ]);
    for (const line of table(table_, ['team', 'variant', 'metric', 'A', 'B', 'B − A (95% CI)', ''], ctx.output.color))
      ctx.output.line(line);
    if (rows.length === 0) ctx.output.line('nothing in common to compare (no team and variant scored in both)');
    return { exitCode: EXIT.ok };
  },
};

const exportCommand: Command = {
  path: ['rollout', 'export'],
  summary: "Export a rollout's cells as CSV, JSON or JSONL",
  args: [{ name: 'rollout', description: 'Rollout id, unique prefix, or "last"', required: true }],
  options: [
    { name: 'format', type: 'string', choices: ['csv', 'json', 'jsonl'], description: 'Default csv' },
    { name: 'out', type: 'string', value: '<file>', description: 'Write here instead of stdout' },
  ],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const rollout = new RolloutRunner(app).require(input.args['rollout']!);
    const cells = engine.store.rollouts.cells(rollout.id);
    const format = (input.options['format'] as string | undefined) ?? 'csv';
    const text =
      format === 'csv'
        ? cellsCsv(cells)
        : format === 'jsonl'
          ? cells
              .map((c) => JSON.stringify({ rollout: rollout.id, ...(cellJson(c) as Record<string, JsonValue>) }))
              .join('\n') + '\n'
          : JSON.stringify(
              {
                rollout: rollout.id,
                name: rollout.name,
                cells: cells.map(cellJson),
                variants: variantReports(rollout, cells).map(variantJson),
              },
              null,
              2,
            ) + '\n';
    const out = input.options['out'];
    if (typeof out === 'string') {
      writeFileSync(out, text);
      ctx.output.line(`${cells.length} cells written to ${out}`);
    } else ctx.output.write(text);
    return { exitCode: EXIT.ok };
  },
};

/** Connects to the queue and says which workers will take the cells. */
async function connectQueue(ctx: CommandContext, url: string): Promise<QueueCoordinator> {
  const app = await ctx.app();
  // Loaded only here: BullMQ and its Redis client would slow every other command's start.
  const { QueueCoordinator } = await import('../../rollout/queue.ts');
  const queue = await QueueCoordinator.connect(app, url);
  const workers = await queue.workers();
  const say = (text: string): void =>
    ctx.output.json
      ? ctx.output.warn(text)
      : ctx.output.line(paint(ctx.output.color, workers === 0 ? 'yellow' : 'gray', text));
  say(
    workers === 0
      ? `queue ${url}: no worker of this workspace (${queue.hash}) is connected yet; the cells wait until one is (p2tui worker --queue ${url})`
      : `queue ${url}: ${workers} worker${workers === 1 ? '' : 's'} of this workspace (${queue.hash})`,
  );
  return queue;
}

const worker: Command = {
  path: ['worker'],
  summary: 'Run rollout cells from a BullMQ queue (redis://…) for coordinators of this same workspace, until Ctrl-C',
  details:
    'A worker takes only the cells of its workspace (the queue is named after a hash of the personas, tools and their code); a job from another workspace is refused. ' +
    'Each cell runs on an in-memory store; its bundle (events, artifacts, scores, payments) goes back to the coordinator, which alone writes the database. A worker killed mid-cell has the cell retried by another.',
  args: [],
  options: [
    {
      name: 'queue',
      type: 'string',
      value: 'redis://host:port',
      description: 'The Redis the coordinator uses (required)',
    },
    { name: 'concurrency', type: 'number', value: '<n>', description: 'Cells at once (default 4)' },
    {
      name: 'lock-ms',
      type: 'number',
      value: '<ms>',
      description: 'How long a cell stays claimed without a heartbeat before another worker takes it (default 30000)',
    },
  ],
  examples: ['p2tui worker --queue redis://127.0.0.1:6379 --concurrency 8'],
  async run(ctx, input) {
    const url = input.options['queue'];
    if (typeof url !== 'string')
      throw new UserError('E_USAGE', 'p2tui worker needs --queue redis://host:port', {
        hint: "The same URL as the coordinator's rollout run --queue.",
      });
    const { connectionOf, runWorker } = await import('../../rollout/queue.ts');
    // A malformed URL is said now, before the workspace loads.
    connectionOf(url);
    const workspace = await ctx.workspace();
    const store = new Store({ path: ':memory:' });
    const app = new App({ workspace, store });
    const concurrency = input.options['concurrency'] === undefined ? 4 : Number(input.options['concurrency']);
    const lockMs = input.options['lock-ms'] === undefined ? undefined : Number(input.options['lock-ms']);
    ctx.output.line(
      `worker ${process.pid}: workspace ${workspaceHash(workspace)} · queue ${url} · ${concurrency} at once · Ctrl-C stops`,
    );
    try {
      const done = await runWorker(app, url, {
        concurrency,
        signal: ctx.signal,
        ...(lockMs === undefined ? {} : { lockMs }),
        onCell: (cell, result) =>
          ctx.output.line(
            `${result.status === 'done' ? '✓' : '✗'} ${cell.team}/${cell.variant}/${cell.scenario} seed ${cell.seed}${result.error === null ? '' : `: ${result.error}`}`,
          ),
      });
      ctx.output.line(`worker stopped after ${done.processed} cells`);
    } finally {
      app.close();
      store.close();
    }
    return { exitCode: EXIT.ok };
  },
};

export const rolloutCommands: readonly Command[] = [worker, run, resume, validate, list, show, compare, exportCommand];
