import { isAbsolute, join } from 'node:path';
import { UserError, suggest } from '../../core/errors.ts';
import type { Workspace } from '../../app/workspace.ts';
import type { RolloutSpec } from '../../rollout/spec.ts';
import type { JsonValue } from '../../core/json.ts';
import { defineCommand, type OptionDef, type OptionDefs, type TypedInput } from '../define.ts';
import { TABLE_OPTIONS, tableWidth } from '../render/columns.ts';
import { paint, plural } from '../render/text.ts';
import { EXIT, type CommandContext, type CommandResult, type WorkspaceUse } from '../types.ts';
import type { Gate } from './print.ts';
import type { CellRow } from '../../store/rollouts.ts';
import { formatUsd } from '../../core/money.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { connectQueue, stopSignal } from './queue.ts';
import { modelOverride, overrideNotice } from './model-override.ts';
import { JUNIT_OPTION, checkJunitPath, writeJunit } from '../junit-file.ts';
import { expandedJson, printExpanded } from './expanded.ts';

/** Checking a rollout spec, running it (here or on a queue), and running the rest of an interrupted one. */

function specPath(file: string): string {
  return isAbsolute(file) ? file : join(process.cwd(), file);
}

/** `--fail-under metric=value` gates, checked against every variant's mean. */
function gatesOf(list: readonly string[]): Gate[] {
  return list.map((text) => {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(-?[0-9]*\.?[0-9]+)$/.exec(text.trim());
    if (m === null)
      throw new UserError('E_USAGE', `--fail-under '${text}' is not of the form <metric>=<value>`, {
        hint: 'For example --fail-under score=0.7',
      });
    return { metric: m[1]!, min: Number(m[2]) };
  });
}

/**
 * The metrics a spec's cells are scored on, known before any cell runs: its judge.evaluators, each team's eval metric
 * and (unless judge.workspace is false) the workspace's evaluators, as the cells report them (cell-runner.ts).
 */
function specMetrics(spec: RolloutSpec, workspace: Workspace): string[] {
  return [
    ...new Set([
      ...spec.raw.judge.evaluators.map((e) => e.id),
      ...spec.teams.flatMap((t) => (t.eval === undefined ? [] : [t.eval.metric])),
      ...(spec.raw.judge.workspace ? workspace.evaluators.list().map((e) => e.id) : []),
    ]),
  ];
}

/** Refuses a gate on a metric no cell will have, before any cell runs (a typo must not cost a whole rollout). */
function refuseUnknownGates(gates: readonly Gate[], metrics: readonly string[]): void {
  for (const gate of gates) {
    if (metrics.includes(gate.metric)) continue;
    const near = suggest(gate.metric, metrics);
    throw new UserError(
      'E_UNKNOWN_METRIC',
      `--fail-under ${gate.metric}=…: no metric '${gate.metric}' in this rollout`,
      {
        hint: `${near === undefined ? '' : `Did you mean ${near}? `}Its metrics: ${metrics.join(', ') || 'none (the spec has no eval and the workspace no evaluators)'}.`,
      },
    );
  }
}

const FAIL_UNDER = {
  type: 'string',
  value: '<metric>=<value>',
  description: "Exit 1 when a variant's mean of a metric is below the value (repeatable)",
  multiple: true,
} as const satisfies OptionDef;

/** The options of `rollout run`, which its alias `rollout start` takes too. */
const RUN_OPTIONS = {
  ...TABLE_OPTIONS,
  'fail-under': FAIL_UNDER,
  concurrency: {
    type: 'number',
    integer: true,
    min: 1,
    max: 10_000,
    value: '<n>',
    description: "Cells at once (default: the spec's concurrency)",
  },
  replay: {
    type: 'string',
    value: '<rollout>',
    description: "Serve every cell from that rollout's recorded sessions (no model calls)",
  },
  queue: {
    type: 'string',
    value: 'redis://host:port',
    description: 'Put the cells on a BullMQ queue for `p2tui worker` processes instead of running them here',
  },
  model: {
    type: 'string',
    value: '<provider/name>',
    description:
      'Every agent of every cell on this model, whatever the spec and personas say (scripted/…: the judge too, unless --judge-model)',
  },
  'judge-model': {
    type: 'string',
    value: '<provider/name>',
    description: "The judge of every cell on this model (beats p2tui.yaml's and the evaluators' own)",
  },
  junit: JUNIT_OPTION,
  jsonl: { type: 'boolean', description: 'A JSON line per cell as it finishes, then a summary line (not with --json)' },
} as const satisfies OptionDefs;

type RunOptions = TypedInput<{ file: { description: string; required: true } }, typeof RUN_OPTIONS>['options'];

/** What `rollout start` adds to `rollout run` (P2Engine's flags). */
interface StartExtras {
  /** Print the expanded variants before running. */
  readonly showConfig: boolean;
  /** A line per cell as it finishes. */
  readonly follow: boolean;
  /** Open the TUI's grid of the rollout when it finishes. */
  readonly rerun: boolean;
}

export const rolloutRunCommand = defineCommand({
  path: ['rollout', 'run'],
  summary: 'Run a rollout spec: every team × variant × scenario × repeat as its own session, in parallel, judged',
  details:
    "Reads P2Engine's format (teams with initial_message, base, variants as a list or a dict of lists, eval) " +
    "and p2tui's extensions (scenarios, repeats, seeds, baseline, budgets, ledger, approval, judge). " +
    'Each cell runs with its own ledger parties unless the spec shares them. Ctrl-C stops starting cells; ' +
    'resume runs the rest. --replay serves every model call from an earlier rollout of the same spec (no model calls).',
  args: {
    file: { description: 'The spec, e.g. rollouts/example.yaml', required: true },
  },
  options: RUN_OPTIONS,
  examples: [
    'p2tui rollout run rollouts/temperature.yaml',
    'p2tui rollout run rollouts/example.yaml --json --fail-under score=0.6',
    'p2tui rollout run rollouts/example.yaml --replay last',
  ],
  run: (ctx, input) => runSpec(ctx, input.args.file, input.options, { showConfig: false, follow: false, rerun: false }),
});

export const rolloutStartCommand = defineCommand({
  path: ['rollout', 'start'],
  summary: "P2Engine's name for rollout run, with its flags: --follow, --show-config, --strict-tools, --rerun",
  details:
    'The same run as `rollout run` (every option of it works here). --follow prints each cell as it finishes, under ' +
    'the progress line; --show-config prints the expanded variants first; --rerun, which opened the Rerun viewer in ' +
    "P2Engine, opens the TUI's grid of this rollout when it finishes (in a terminal). --strict-tools is accepted as " +
    'P2Engine wrote it: p2tui always refuses a variant that names a tool the workspace does not have, before any cell runs.',
  args: {
    file: { description: 'The spec, e.g. rollouts/p2engine-payments.yaml', required: true },
  },
  options: {
    ...RUN_OPTIONS,
    follow: { type: 'boolean', short: 'f', description: 'Print each cell (score, tokens, cost, time) as it finishes' },
    'show-config': { type: 'boolean', description: 'Print the expanded variants (agent and settings) before running' },
    'strict-tools': {
      type: 'boolean',
      description: 'Refuse a variant naming an unknown tool (always so in p2tui; accepted for P2Engine scripts)',
    },
    rerun: { type: 'boolean', description: "Open the TUI's grid of the rollout when it finishes (needs a terminal)" },
    parallel: {
      type: 'number',
      short: 'p',
      integer: true,
      min: 1,
      max: 10_000,
      value: '<n>',
      description: "P2Engine's name for --concurrency",
    },
  },
  examples: [
    'p2tui rollout start rollouts/p2engine-payments.yaml --follow --show-config',
    'p2tui rollout start rollouts/p2engine-payments.yaml --rerun',
  ],
  run: (ctx, input) =>
    runSpec(
      ctx,
      input.args.file,
      { ...input.options, concurrency: input.options.concurrency ?? input.options.parallel },
      {
        showConfig: input.options['show-config'],
        follow: input.options.follow,
        rerun: input.options.rerun,
      },
    ),
});

async function runSpec(
  given: CommandContext,
  file: string,
  options: RunOptions,
  extras: StartExtras,
): Promise<CommandResult> {
  // Both would write one stream of JSON to stdout, in two shapes: refused before anything is read or run.
  if (options.jsonl && given.output.json)
    throw new UserError('E_USAGE', '--json and --jsonl cannot go together', {
      hint: '--json prints one object at the end; --jsonl a line per cell as it finishes, then a summary line.',
    });
  if (options.junit !== undefined) checkJunitPath(options.junit);
  // The spec reader, the runner and the statistics are loaded when a rollout runs, not at start-up.
  const [
    { loadRolloutSpec },
    { expandCells },
    { RolloutRunner, findRollout },
    { progressPrinter, report },
    ci,
    { capYoungGeneration },
  ] = await Promise.all([
    import('../../rollout/spec.ts'),
    import('../../rollout/cells.ts'),
    import('../../rollout/runner.ts'),
    import('./print.ts'),
    import('./ci-output.ts'),
    import('../../rollout/young-generation.ts'),
  ]);
  const ctx = options.jsonl ? ci.jsonlContext(given) : given;
  const ref = options.replay;
  const source = ref === undefined ? undefined : findRollout(await ctx.store({ existing: true }), ref).id;
  const workspace = await ctx.workspace(source === undefined ? {} : await replayingRollout(ctx, source));
  const spec = loadRolloutSpec(specPath(file), workspace, file, { modelOverride: options.model });
  const gates = gatesOf(options['fail-under']);
  refuseUnknownGates(gates, specMetrics(spec, workspace));
  const models = modelOverride(options, workspace, spec, (text) => ctx.output.warn(text));
  for (const note of spec.notes) ctx.output.warn(note);
  if (models.model !== undefined || models.judgeModel !== undefined) ctx.output.warn(overrideNotice(models, options));
  // Said before the run, not after it: the rollout runs either way, and its grid is one key away in the TUI.
  const rerun = extras.rerun && rerunPossible(ctx);
  if (extras.showConfig && !ctx.output.json) printExpanded(ctx, spec);
  const app = await ctx.app();
  const runner = new RolloutRunner(app);
  const concurrency = options.concurrency;
  const replayOf = source;
  // Its count only: the expansion is not kept in this frame while the cells run.
  const cellCount = expandCells(spec).length;
  if (!ctx.output.json) {
    const teams = plural(spec.teams.length, 'team');
    const variants = spec.teams.reduce((a, t) => a + t.variants.length, 0);
    const repeats = plural(spec.seeds.length, 'repeat');
    const replayed = replayOf === undefined ? '' : `, replayed from ${replayOf}`;
    ctx.output.line(
      paint(
        ctx.output.color,
        'gray',
        `${spec.name}: ${cellCount} cells (${teams}, ${variants} variants, ${repeats})${replayed}`,
      ),
    );
  }
  const url = options.queue;
  if (url !== undefined) {
    // Refused before anything is queued: each needs this database while the cells run.
    if (replayOf !== undefined)
      throw new UserError(
        'E_USAGE',
        '--replay and --queue cannot go together (the recordings are in this database, not on the workers)',
        { hint: 'Replay without --queue: it makes no model calls anyway.' },
      );
    const { assertQueueable } = await import('../../rollout/queue/queueable.ts');
    assertQueueable(spec);
  }
  const queue = url === undefined ? undefined : await connectQueue(ctx, url);
  const stop = stopSignal(ctx);
  const follow = extras.follow ? cellPrinter(ctx) : undefined;
  const line = options.jsonl ? ci.jsonlCellPrinter(ctx, app.store) : undefined;
  try {
    const outcome = await runner.start(spec, {
      signal: stop.signal,
      onProgress: capYoungGeneration(progressPrinter(ctx, options.width)),
      ...(follow === undefined && line === undefined
        ? {}
        : {
            onCell: (c: CellRow) => {
              follow?.(c);
              line?.(c);
            },
          }),
      // On a queue, as many cells in flight as the spec's concurrency or 100 (the workers bound the real parallelism):
      // a total budget or Ctrl-C then stops what is not queued yet.
      ...(queue === undefined
        ? {}
        : { executor: queue.executor(), concurrency: concurrency ?? Math.max(spec.raw.concurrency, 100) }),
      ...(concurrency === undefined || queue !== undefined ? {} : { concurrency }),
      ...(replayOf === undefined ? {} : { replayOf }),
      models,
    });
    const result = report(ctx, app.store, outcome, gates, tableWidth(options));
    // Written whatever the exit code: a failed gate is when CI needs the report most.
    if (options.junit !== undefined) writeJunit(options.junit, ci.rolloutSuites(app.store, outcome, gates));
    if (options.jsonl) {
      ci.jsonlSummary(ctx, result.json);
      return { exitCode: result.exitCode };
    }
    const json =
      extras.showConfig && result.json !== undefined
        ? { ...(result.json as Record<string, JsonValue>), config: expandedJson(spec) }
        : result.json;
    return {
      exitCode: result.exitCode,
      ...(json === undefined ? {} : { json }),
      ...(rerun ? { tui: { rollout: outcome.rollout.id } } : {}),
    };
  } finally {
    stop.dispose();
    await queue?.close();
  }
}

/**
 * Whether the TUI can open when the rollout finishes (a terminal on both sides, no --json); when it cannot, says why
 * (the rollout runs either way).
 */
function rerunPossible(ctx: CommandContext): boolean {
  const terminal = ctx.output.interactive && process.stdout.isTTY === true;
  if (terminal && !ctx.output.json) return true;
  const why = ctx.output.json ? '--json (or --jsonl) is given' : 'stdin or stdout is not a terminal here';
  ctx.output.warn(
    paint(
      ctx.output.color,
      'yellow',
      ctx.output.inTui === true
        ? '--rerun: this is the TUI already; the rollout runs, and R shows its grid.'
        : `--rerun: the grid opens in the full-screen TUI, which needs a terminal, and ${why}. ` +
            'The rollout runs; see its grid later with: p2tui, then R.',
    ),
  );
  return false;
}

/**
 * A rollout that replays another builds its MCP tools from the listings the other's cells recorded (one process ran
 * them with one workspace: the first cell's stand for all), so no server is reached while its cells replay.
 */
async function replayingRollout(ctx: CommandContext, source: string): Promise<WorkspaceUse> {
  const cell = (await ctx.store()).rollouts.cells(source).find((c) => c.session !== null);
  return cell?.session == null ? {} : { replay: { from: cell.session, onMiss: 'fail' } };
}

export const rolloutResumeCommand = defineCommand({
  path: ['rollout', 'resume'],
  summary: 'Run the cells of a rollout that are not done yet (interrupted, failed or never started)',
  args: {
    rollout: { description: 'Rollout id, unique prefix, or "last"', required: true },
  },
  options: {
    ...TABLE_OPTIONS,
    'fail-under': FAIL_UNDER,
    junit: JUNIT_OPTION,
    concurrency: { type: 'number', integer: true, min: 1, max: 10_000, value: '<n>', description: 'Cells at once' },
    queue: {
      type: 'string',
      value: 'redis://host:port',
      description: 'Run the remaining cells through the queue (and pick up results workers finished meanwhile)',
    },
  },
  async run(ctx, input) {
    const junit = input.options.junit;
    if (junit !== undefined) checkJunitPath(junit);
    const [{ RolloutRunner, findRollout }, { progressPrinter, report }, { rolloutSuites }, { capYoungGeneration }] =
      await Promise.all([
        import('../../rollout/runner.ts'),
        import('./print.ts'),
        import('./ci-output.ts'),
        import('../../rollout/young-generation.ts'),
      ]);
    const row = findRollout(await ctx.store({ existing: true }), input.args.rollout);
    const replayOf = row.options.replayOf;
    const app = await ctx.app(replayOf === undefined ? {} : await replayingRollout(ctx, replayOf));
    const runner = new RolloutRunner(app);
    const gates = gatesOf(input.options['fail-under']);
    refuseUnknownGates(gates, specMetrics(runner.specOf(row), app.workspace));
    const concurrency = input.options.concurrency;
    const url = input.options.queue;
    const queue = url === undefined ? undefined : await connectQueue(ctx, url);
    const stop = stopSignal(ctx);
    try {
      const outcome = await runner.resume(input.args.rollout, {
        signal: stop.signal,
        onProgress: capYoungGeneration(progressPrinter(ctx, input.options.width)),
        ...(queue === undefined ? {} : { executor: queue.executor(), concurrency: concurrency ?? 100 }),
        ...(concurrency === undefined || queue !== undefined ? {} : { concurrency }),
      });
      const result = report(ctx, app.store, outcome, gates, tableWidth(input.options));
      if (junit !== undefined) writeJunit(junit, rolloutSuites(app.store, outcome, gates));
      return result;
    } finally {
      stop.dispose();
      await queue?.close();
    }
  },
});

export const rolloutValidateCommand = defineCommand({
  path: ['rollout', 'validate'],
  summary:
    'Check a rollout spec without running it: every error with its line, column and key; unknown agents, tools and rubrics',
  args: {
    file: { description: 'The spec', required: true },
  },
  async run(ctx, input) {
    const [{ loadRolloutSpec }, { expandCells }] = await Promise.all([
      import('../../rollout/spec.ts'),
      import('../../rollout/cells.ts'),
    ]);
    const workspace = await ctx.workspace();
    const file = input.args.file;
    const spec = loadRolloutSpec(specPath(file), workspace, file);
    const cells = expandCells(spec);
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: { ...expandedJson(spec), cells: cells.length, notes: [...spec.notes] },
      };
    }
    ctx.output.line(paint(ctx.output.color, 'green', `${file}: valid · ${cells.length} cells`));
    printExpanded(ctx, spec);
    for (const note of spec.notes) ctx.output.line(paint(ctx.output.color, 'yellow', note));
    return { exitCode: EXIT.ok };
  },
});

/**
 * `--follow`: a line per cell as it finishes (P2Engine's live table, as lines a pipe keeps too). At a terminal the
 * progress line is cleared first and redrawn under it by the next update.
 */
function cellPrinter(ctx: CommandContext): (cell: CellRow) => void {
  const out = ctx.output;
  return (c) => {
    const m = c.metrics;
    const scores = Object.entries(m?.scores ?? {})
      .map(([k, v]) => `${k} ${v === null ? 'judge failed' : v.toFixed(2)}`)
      .join(' · ');
    const figures =
      c.status === 'done' && m !== null
        ? [
            scores,
            `${m.tokens.toLocaleString('en-US')} tokens`,
            formatUsd(m.costUsd),
            `${(m.latencyMs / 1000).toFixed(1)} s`,
          ]
        : [c.error ?? c.status];
    const text = `${c.status === 'done' ? '✓' : '✗'} ${c.team}/${c.variant}/${c.scenario} seed ${c.seed} · ${figures
      .filter((f) => f !== '')
      .join(' · ')}`;
    if (out.json) return out.warn(text);
    if (out.interactive && out.redraw !== undefined) out.redraw('');
    out.line(paint(out.color, c.status === 'done' ? 'gray' : 'red', terminalText(text)));
  };
}
