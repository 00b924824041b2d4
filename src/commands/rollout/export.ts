import type { JsonValue } from '../../core/json.ts';
import { defineCommand } from '../define.ts';
import { checkOutPath, writeOutFile } from '../shared.ts';
import { EXIT } from '../types.ts';
import { jsonForTerminal } from '../../core/terminal-text.ts';

export const rolloutExportCommand = defineCommand({
  path: ['rollout', 'export'],
  summary: "Export a rollout's cells as CSV, JSON or JSONL",
  args: {
    rollout: { description: 'Rollout id, unique prefix, or "last"', required: true },
  },
  options: {
    format: { type: 'string', choices: ['csv', 'json', 'jsonl'], description: 'Default csv' },
    out: { type: 'string', value: '<file>', description: 'Write here instead of stdout' },
  },
  async run(ctx, input) {
    // A missing folder is said before the rollout is looked up and read.
    if (input.options.out !== undefined) checkOutPath(input.options.out);
    const [{ RolloutRunner }, { cellEffects, cellJson, cellsCsv, variantJson, variantReports }, { evalSettings }] =
      await Promise.all([
        import('../../rollout/runner.ts'),
        import('../../rollout/report.ts'),
        import('../../rollout/eval-settings.ts'),
      ]);
    const app = await ctx.app();
    const { engine } = app;
    const rollout = new RolloutRunner(app).require(input.args.rollout);
    const cells = engine.store.rollouts.cells(rollout.id);
    const effects = cellEffects(engine.store, cells);
    const format = input.options.format ?? 'csv';
    const evals = evalSettings(rollout);
    // Each JSONL line and CSV row carries its team's judge version, as P2Engine's evaluation artifacts did.
    const judgeOf = (team: string): string | null => evals.find((e) => e.team === team)?.judge_version ?? null;
    const text =
      format === 'csv'
        ? cellsCsv(cells, effects, judgeOf)
        : format === 'jsonl'
          ? cells
              .map((c) =>
                JSON.stringify({
                  rollout: rollout.id,
                  ...(cellJson(c, effects) as Record<string, JsonValue>),
                  judge_version: judgeOf(c.team),
                }),
              )
              .join('\n') + '\n'
          : JSON.stringify(
              {
                rollout: rollout.id,
                name: rollout.name,
                cells: cells.map((c) => cellJson(c, effects)),
                variants: variantReports(rollout, cells, effects).map(variantJson),
                evals,
              },
              null,
              2,
            ) + '\n';
    const out = input.options.out;
    if (out !== undefined) {
      writeOutFile(out, text);
      ctx.output.line(`${cells.length} cells written to ${out}`);
      return { exitCode: EXIT.ok };
    }
    // On stdout, JSON keeps every value exactly (control characters as escapes); CSV shows them as the terminal does.
    ctx.output.write(format === 'csv' ? text : jsonForTerminal(text));
    return { exitCode: EXIT.ok };
  },
});
