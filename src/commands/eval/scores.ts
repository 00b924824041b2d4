import type { JsonObject, JsonValue } from '../../core/json.ts';
import { skippedInReplay, type TargetScore } from '../../judge/aggregate.ts';
import type { Store } from '../../store/store.ts';
import { paint, table, truncate } from '../render/text.ts';
import type { CommandContext } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** How the eval commands print and serialize scores (light: types and rendering only, so the commands load fast). */

/** `0.82`, `0.82 ± 0.05 (n=3)`, `judge failed`, or `not judged` (a replay without a recorded verdict). */
export function formatValue(t: TargetScore): string {
  if (skippedInReplay(t)) return 'not judged';
  if (t.mean === null) return 'judge failed';
  const base = t.mean.toFixed(2);
  return t.samples > 1
    ? `${base} ± ${t.sd.toFixed(2)} (n=${t.samples - t.failed}${t.failed > 0 ? `, ${t.failed} failed` : ''})`
    : base;
}

/** Who judged: the model, "scripted judge" for the offline one, "assertions"/"code" for the rest. */
export function judgeLabel(t: TargetScore): string {
  if (t.model === 'scripted/judge') return 'scripted judge';
  if (skippedInReplay(t)) return 'none (replay)';
  return t.model ?? (t.scores[0]?.evaluatorVersion.startsWith('assert@') === true ? 'assertions' : 'code');
}

export function targetLabel(store: Store, t: { targetKind: string; targetId: string }): string {
  if (t.targetKind === 'conversation') return store.sessions.conversation(t.targetId)?.path ?? t.targetId;
  if (t.targetKind === 'branch') return `branch ${t.targetId}`;
  return `${t.targetKind} ${t.targetId.slice(0, 12)}`;
}

export function scoreJson(store: Store, t: TargetScore): JsonObject {
  return {
    branch: t.branch,
    target: { kind: t.targetKind, id: t.targetId, label: targetLabel(store, t) },
    evaluator: t.evaluator,
    metric: t.metric,
    value: t.mean,
    sd: t.sd,
    samples: t.samples,
    failed: t.failed,
    judge: judgeLabel(t),
    version: t.evaluatorVersion,
    scores: t.scores.map((s) => ({
      id: s.id,
      value: s.value,
      status: s.status,
      reasoning: s.reasoning,
      criteria: s.criteria.map((c) => ({
        id: c.id,
        score: c.score,
        reason: c.reason,
        ...(c.weight === undefined ? {} : { weight: c.weight }),
      })),
      model: s.model,
      promptHash: s.promptHash,
      sample: s.sample,
    })) as JsonValue,
  };
}

export function printScores(
  ctx: CommandContext,
  store: Store,
  targets: readonly TargetScore[],
  criteria: boolean,
): void {
  const c = ctx.output.color;
  const rows = targets.map((t) => [
    targetLabel(store, t),
    t.evaluator,
    t.mean === null
      ? paint(c, 'red', formatValue(t))
      : paint(c, t.mean >= 0.7 ? 'green' : t.mean >= 0.4 ? 'yellow' : 'red', formatValue(t)),
    judgeLabel(t),
    truncate(t.scores.at(-1)?.reasoning ?? '', 70),
  ]);
  for (const line of table(rows, ['target', 'evaluator', 'score', 'judge', 'why'], c)) ctx.output.line(line);
  if (!criteria) return;
  for (const t of targets) {
    const last = t.scores.at(-1);
    if (last === undefined || last.criteria.length === 0) continue;
    ctx.output.line();
    ctx.output.line(
      paint(
        c,
        'bold',
        `${targetLabel(store, t)} · ${t.evaluator} (${t.evaluatorVersion}${last.promptHash === null ? '' : `, prompt ${last.promptHash.slice(0, 12)}`})`,
      ),
    );
    for (const cr of last.criteria) {
      const weight = cr.weight === undefined ? '' : ` ×${cr.weight}`;
      ctx.output.line(
        `  ${cr.id.padEnd(18)} ${cr.score === null ? ' –  ' : cr.score.toFixed(2)}${weight}  ${terminalText(cr.reason)}`,
      );
    }
  }
}
