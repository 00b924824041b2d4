import { z } from 'zod';
import { UserError } from '../../core/errors.ts';
import type { App } from '../../app/app.ts';
import { latestTargetScores, meansByKey } from '../../judge/aggregate.ts';
import { decimal } from '../../ledger/decimal.ts';
import type { SessionBundle } from '../../store/bundle.ts';
import type { CellMetrics } from '../../store/rollouts.ts';
import type { ScoreRow } from '../../store/scores.ts';
import type { Cell } from '../cells.ts';
import type { TeamEvaluators } from '../evaluators.ts';
import type { RolloutSpec } from '../spec.ts';
import type { CellJob, CellResult, LedgerOp } from './messages.ts';

/**
 * What the coordinator checks in a worker's (signed) result before it stores or pays anything, and what it
 * recomputes itself. A key holder is trusted to run cells, not to say what they scored or to pay whom it likes: the
 * result's bundle must be a session of this cell's agent in the scope the coordinator chose, its payments may name
 * only the workspace's agents (inside that scope), a mint must be a `reward_agent` call the bundle shows, and the
 * scores, steps, tokens and cost are read from the bundle's rows, never from the result's summary.
 */

function refuse(job: string, why: string): never {
  throw new UserError('E_QUEUE', `refused the result for ${job}: ${why}`, {
    hint: 'Only workers of this workspace with its queue key can return results; check who can reach the Redis.',
  });
}

const rewardOutput = z.object({ rewarded: z.string(), to: z.string(), reference: z.string() });
const toolResult = z.object({ tool: z.string(), status: z.string(), output: z.unknown().optional() });
const modelCall = z.object({
  tokensIn: z.number().int().min(0),
  tokensOut: z.number().int().min(0),
  costUsd: z.number().min(0).max(1e9),
  status: z.enum(['ok', 'error']),
});

function payload(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The `reward_agent` calls that succeeded in the bundle, by reference, with the agent that made each. */
function rewardsOf(bundle: SessionBundle): Map<string, { to: string; amount: string; by: string | undefined }> {
  const agents = new Map(bundle.conversations.map((c) => [c.id, c.agent]));
  const out = new Map<string, { to: string; amount: string; by: string | undefined }>();
  for (const e of bundle.events) {
    if (e.type !== 'entry' || e.kind !== 'tool_result') continue;
    const result = toolResult.safeParse(payload(e.payload)).data;
    if (result?.tool !== 'reward_agent' || result.status !== 'ok') continue;
    const output = rewardOutput.safeParse(result.output).data;
    if (output === undefined) continue;
    const by = e.conversation_id === null ? undefined : agents.get(e.conversation_id);
    out.set(output.reference, { to: output.to, amount: output.rewarded, by });
  }
  return out;
}

/**
 * Checks a result's bundle and payments against the job the coordinator signed; returns the payments to apply
 * (in the job's scope). Throws a UserError (E_QUEUE) naming the first thing that is refused.
 */
export function vetResult(
  app: App,
  jobId: string,
  job: CellJob,
  cell: Cell,
  result: CellResult,
  usesLedger: boolean,
): readonly LedgerOp[] {
  const { workspace, store } = app;
  const bundle = result.bundle;
  if (result.status === 'done' && bundle === null) refuse(jobId, 'it says the cell is done but carries no session');
  if (bundle !== null) {
    if (bundle.session.agent !== cell.agent)
      refuse(jobId, `its session is of agent '${bundle.session.agent}', the cell runs '${cell.agent}'`);
    if (bundle.session.source !== 'rollout') refuse(jobId, `its session is a '${bundle.session.source}' session`);
    const options = payload(bundle.session.options) as { ledgerScope?: unknown } | undefined;
    const scope = options?.ledgerScope;
    if (usesLedger ? scope !== job.scope : scope !== undefined)
      refuse(jobId, `its session pays from scope '${String(scope)}', the coordinator gave it '${job.scope}'`);
    if (store.sessions.get(bundle.session.id) !== undefined)
      refuse(jobId, `its session ${bundle.session.id} is already in this database`);
  }
  if (!usesLedger && result.ledger.length > 0) refuse(jobId, 'it pays, but no agent of this cell has a wallet');
  const rewards = bundle === null ? new Map() : rewardsOf(bundle);
  const known = (name: string, role: string): void => {
    if (!workspace.personas.has(name))
      refuse(jobId, `a payment names '${name}' as ${role}, which is no agent of this cell`);
  };
  for (const op of result.ledger) {
    switch (op.kind) {
      case 'mint': {
        known(op.to, 'receiver');
        const reward = rewards.get(op.reference);
        const matches =
          reward !== undefined &&
          reward.to === op.to &&
          decimal.canonical(reward.amount) === decimal.canonical(op.amount) &&
          reward.by !== undefined &&
          workspace.personas.get(reward.by)?.tools.includes('reward_agent') === true;
        if (!matches)
          refuse(
            jobId,
            `it mints ${op.amount} to '${op.to}' (reference ${op.reference}) with no reward_agent call in its session that did`,
          );
        break;
      }
      case 'transfer':
        known(op.from, 'payer');
        known(op.to, 'receiver');
        break;
      case 'escrow':
        known(op.payer, 'payer');
        known(op.payee, 'payee');
        break;
      case 'settle':
        known(op.payer, 'payer');
        break;
    }
  }
  return result.ledger;
}

/**
 * The cell's scores, steps, tokens and cost, read from its session's rows (the bundle's model calls and scores);
 * scores only of the spec's evaluators for the cell's team (and, with `judge.workspace`, the workspace's own). The
 * rest (latency, answer) is the worker's account, bounded by the schema. Computed before anything is written.
 */
export function recomputedMetrics(
  app: App,
  jobId: string,
  spec: RolloutSpec,
  cell: Cell,
  bundle: SessionBundle,
  evaluators: TeamEvaluators,
  reported: CellMetrics | null,
  ledger: Pick<CellMetrics, 'balances' | 'netFlow' | 'transfers'>,
): CellMetrics {
  const { workspace } = app;
  const branch = bundle.session.head_branch;
  let steps = 0;
  let tokens = 0;
  let costUsd = 0;
  for (const e of bundle.events) {
    if (e.type !== 'model.call' || e.branch_id !== branch) continue;
    const call = modelCall.safeParse(payload(e.payload));
    if (!call.success) refuse(jobId, `its model call ${e.id} has impossible figures`);
    if (call.data.status === 'ok') steps += 1;
    tokens += call.data.tokensIn + call.data.tokensOut;
    costUsd += call.data.costUsd;
  }
  const rows: ScoreRow[] = [];
  for (const s of bundle.scores ?? []) {
    if (s.branch_id !== branch) continue;
    if (s.value !== null && !(s.value >= 0 && s.value <= 1))
      refuse(jobId, `its session scores ${s.metric} ${s.value} (${s.evaluator}), outside 0..1`);
    rows.push({
      id: s.id,
      job: s.job_id,
      session: s.session_id,
      branch: s.branch_id,
      targetKind: s.target_kind as ScoreRow['targetKind'],
      targetId: s.target_id,
      evaluator: s.evaluator,
      evaluatorKind: s.evaluator_kind,
      evaluatorVersion: s.evaluator_version,
      metric: s.metric,
      value: s.value,
      status: s.status === 'ok' ? 'ok' : 'failed',
      reasoning: '',
      criteria: [],
      model: s.model,
      promptHash: s.prompt_hash,
      sample: s.sample,
      createdAt: s.created_at,
    });
  }
  const targets = latestTargetScores(rows);
  // As the cell runner reads them: a metric is the mean over the targets in its evaluator's scope (the branch, or
  // each conversation of its agents), null when it has none.
  const scores: Record<string, number | null> = {};
  const team = evaluators.get(cell.team) ?? [];
  const metricOf = new Map(team.map((e) => [e.evaluator.id, e.metric]));
  for (const { metric } of team) scores[metric] = null;
  // Every target the cell's jobs judged (branch, conversations, artifacts, steps): the worker chose them by scope.
  const ofSpec = targets.filter((t) => metricOf.has(t.evaluator));
  for (const [metric, value] of meansByKey(ofSpec, (t) => metricOf.get(t.evaluator)!)) scores[metric] = value;
  if (spec.raw.judge.workspace) {
    const own = new Set(workspace.evaluators.list().map((e) => e.id));
    const ofWorkspace = targets.filter(
      (t) => t.targetKind === 'conversation' && own.has(t.evaluator) && !metricOf.has(t.evaluator),
    );
    for (const [id, value] of meansByKey(ofWorkspace, (t) => t.evaluator))
      if (scores[id] === undefined) scores[id] = value;
  }
  const delegations = bundle.conversations.filter((c) => c.parent_id !== null).length;
  return {
    scores,
    steps,
    tokens,
    costUsd,
    latencyMs: reported?.latencyMs ?? 0,
    delegations,
    ...ledger,
    status: bundle.session.status,
    answer: reported?.answer ?? '',
    ...(reported?.branch === undefined ? {} : { branch: reported.branch }),
  };
}
