import { meanText, type JunitCase, type JunitSuite } from '../../core/junit.ts';
import type { JsonValue } from '../../core/json.ts';
import { cellEffects, cellJson, variantReports } from '../../rollout/report.ts';
import type { RunOutcome } from '../../rollout/runner.ts';
import type { CellRow } from '../../store/rollouts.ts';
import type { Store } from '../../store/store.ts';
import type { CommandContext, Output } from '../types.ts';
import { jsonForTerminal } from '../../core/terminal-text.ts';
import type { Gate } from './print.ts';

/**
 * What `rollout run` writes for CI besides its table: `--junit` (a test case per cell and per gate and variant) and
 * `--jsonl` (a line per cell as it finishes, then the summary). Loaded when a rollout runs, with print.ts.
 */

function cellCase(c: CellRow): JunitCase {
  const base = {
    name: `${c.scenario} seed ${c.seed}`,
    classname: `rollout.${c.team}.${c.variant}`,
    seconds: c.startedAt !== null && c.finishedAt !== null ? (c.finishedAt - c.startedAt) / 1000 : 0,
  };
  if (c.status === 'failed') {
    const error = c.error ?? 'failed';
    const where = c.session === null ? '' : ` (session ${c.session})`;
    return { ...base, failure: { message: error.split('\n')[0]!, type: 'cell failed', text: `${error}${where}` } };
  }
  // Not run (Ctrl-C, a total budget): neither passed nor failed; `rollout resume` runs it.
  if (c.status !== 'done') return { ...base, skipped: `not run (${c.status})` };
  return base;
}

/**
 * The rollout as JUnit suites, one per team (`rollout.<team>`); each cell a test case of class
 * `rollout.<team>.<variant>`, failed with its error when it failed; each gate one more case per variant,
 * `gate <variant> <metric> >= <value>`, failed with the variant's mean and 95% interval when the mean is under it (or
 * there is none).
 */
export function rolloutSuites(
  store: Pick<Store, 'sessions'>,
  outcome: RunOutcome,
  gates: readonly Gate[],
): JunitSuite[] {
  const { rollout, cells } = outcome;
  const reports = variantReports(rollout, cells, cellEffects(store, cells));
  const teams = [...new Set(cells.map((c) => c.team))];
  return teams.map((team) => {
    const gateCases = reports
      .filter((v) => v.team === team)
      .flatMap((v) =>
        gates.map((g): JunitCase => {
          const s = v.metrics[g.metric];
          const name = `gate ${v.variant} ${g.metric} >= ${g.min}`;
          const base = { name, classname: `rollout.${team}.${v.variant}`, seconds: 0 };
          if (s !== undefined && s.mean !== null && s.mean >= g.min) return base;
          const measured =
            s === undefined || s.mean === null
              ? `no ${g.metric} score (${v.failed} of ${v.cells} cells failed)`
              : meanText({ mean: s.mean, ci: s.ci, n: s.n });
          const message = `${team}/${v.variant}: ${measured}, under ${g.metric} >= ${g.min}`;
          return { ...base, failure: { message, type: 'gate', text: message } };
        }),
      );
    return {
      name: `rollout.${team}`,
      pkg: `rollout.${rollout.name}`,
      startedAt: rollout.createdAt,
      properties: {
        rollout: rollout.id,
        spec: rollout.file,
        status: rollout.status,
        ...(outcome.stopped === null ? {} : { stopped: outcome.stopped }),
      },
      cases: [...cells.filter((c) => c.team === team).map(cellCase), ...gateCases],
    };
  });
}

/**
 * `--jsonl`: the command runs as with --json (progress and notices on stderr, stdout for data only), and each cell's
 * line is written the moment it finishes. A context whose output says json, over the same context: its methods
 * (store, app, …) stay the original's.
 */
export function jsonlContext(ctx: CommandContext): CommandContext {
  const base = ctx.output;
  const output: Output = {
    json: true,
    color: base.color,
    interactive: base.interactive,
    ...(base.inTui === undefined ? {} : { inTui: base.inTui }),
    line: (text) => base.line(text),
    write: (text) => base.write(text),
    warn: (text) => base.warn(text),
    ask: (prompt) => base.ask(prompt),
  };
  return Object.create(ctx, { output: { value: output } }) as CommandContext;
}

/**
 * One JSON line on stdout. As with --json, characters a terminal would act on are written as their JSON escapes
 * (the value a parser reads is unchanged), so the terminal output's cleaning finds nothing to replace.
 */
function jsonLine(ctx: CommandContext, value: JsonValue): void {
  ctx.output.line(jsonForTerminal(JSON.stringify(value)));
}

/** The `{"type":"cell", …}` line of a finished cell: its --json entry (stdout to a pipe is written at once). */
export function jsonlCellPrinter(ctx: CommandContext, store: Pick<Store, 'sessions'>): (cell: CellRow) => void {
  return (c) => jsonLine(ctx, { type: 'cell', ...(cellJson(c, cellEffects(store, [c])) as Record<string, JsonValue>) });
}

/** The closing `{"type":"summary", …}` line: --json's object without its cells (they had their lines). */
export function jsonlSummary(ctx: CommandContext, json: JsonValue | undefined): void {
  const { cells: _cells, ...rest } = (json ?? {}) as Record<string, JsonValue>;
  jsonLine(ctx, { type: 'summary', ...rest });
}
