import type { JsonValue } from '../../core/json.ts';
import { defineCommand } from '../define.ts';
import { checkOutPath, writeOutFile } from '../shared.ts';
import { EXIT } from '../types.ts';
import { jsonForTerminal } from '../../core/terminal-text.ts';
import { OTLP_OPTIONS, checkOtlpOptions, deliverSpans } from '../otlp-output.ts';

export const rolloutExportCommand = defineCommand({
  path: ['rollout', 'export'],
  summary: "Export a rollout's cells as CSV, JSON or JSONL, or as OpenTelemetry traces (otlp: one per cell)",
  args: {
    rollout: { description: 'Rollout id, unique prefix, or "last"', required: true },
  },
  options: {
    format: { type: 'string', choices: ['csv', 'json', 'jsonl', 'otlp'], description: 'Default csv' },
    out: { type: 'string', value: '<file>', description: 'Write here instead of stdout' },
    ...OTLP_OPTIONS,
  },
  async run(ctx, input) {
    checkOtlpOptions(input.options.format ?? 'csv', input.options);
    // A missing folder is said before the rollout is looked up and read.
    if (input.options.out !== undefined) checkOutPath(input.options.out);
    if (input.options.format === 'otlp') {
      const [{ findRollout }, { rolloutSpans }] = await Promise.all([
        import('../../rollout/runner.ts'),
        import('../../telemetry/rollout.ts'),
      ]);
      // Read from the database alone: a workspace that changed since (or a broken persona) does not stop an export.
      const store = await ctx.store({ existing: true });
      const rollout = findRollout(store, input.args.rollout);
      const spans = rolloutSpans(store, rollout, store.rollouts.cells(rollout.id), {
        captureContent: input.options['capture-content'] === true,
      });
      const done = await deliverSpans(ctx, spans, input.options);
      if (done.to === 'stdout') return { exitCode: EXIT.ok };
      if (!ctx.output.json)
        ctx.output.line(`${done.traces} traces (${done.spans} spans) of rollout ${rollout.id} sent to ${done.to}`);
      return {
        exitCode: EXIT.ok,
        json: { rollout: rollout.id, format: 'otlp', to: done.to, traces: done.traces, spans: done.spans },
      };
    }
    const [
      { RolloutRunner },
      { cellEffects, cellJson, cellsCsv, variantJson, variantReports },
      { evalSettings },
      { overrideJson },
    ] = await Promise.all([
      import('../../rollout/runner.ts'),
      import('../../rollout/report.ts'),
      import('../../rollout/eval-settings.ts'),
      import('./print.ts'),
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
                // A dry run on --model says so in what it exports, not only in `rollout show`.
                model_override: overrideJson(rollout.options),
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
