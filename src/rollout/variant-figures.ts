import type { CellRow, RolloutRow } from '../store/rollouts.ts';
import { expandVariants } from './spec.ts';

/**
 * What P2Engine's rollout summary showed besides the score, per variant and per team: what each variant is (its
 * agent and settings, read back from the spec as the rollout stored it, so `rollout show` says it months later), the
 * ledger figures of the variant's agent (final balance, net flow, transfers), and a team aggregate.
 */

/** A variant as written: its agent and its settings merged over the team's base (id and agent_id left out). */
export interface VariantConfig {
  readonly agent: string | null;
  readonly settings: Readonly<Record<string, unknown>>;
}

/** Per `team\nvariant`: the variant's agent and settings, expanded from the stored spec as the run expanded it. */
export function variantConfigs(rollout: RolloutRow): Map<string, VariantConfig> {
  const out = new Map<string, VariantConfig>();
  const spec = rollout.spec as { teams?: Record<string, { base?: Record<string, unknown>; variants?: unknown }> };
  for (const [team, t] of Object.entries(spec.teams ?? {})) {
    expandVariants(t.variants, t.base ?? {}).forEach((v, i) => {
      // The ids the run gave (spec.ts): the variant's own `id`, else P2Engine's numbering by position.
      const id = typeof v['id'] === 'string' ? v['id'] : `v${i + 1}`;
      const agent = typeof v['agent_id'] === 'string' ? v['agent_id'] : null;
      const settings = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'id' && k !== 'agent_id'));
      out.set(`${team}\n${id}`, { agent, settings });
    });
  }
  return out;
}

/** The ledger figures of one agent over a variant's finished cells: means per cell, null where no cell has them. */
export interface LedgerFigures {
  /** The agent's balance when the cell ended. */
  readonly balance: number | null;
  /** Received minus paid in the cell (null with a shared ledger: other cells' payments are in it too). */
  readonly netFlow: number | null;
  /** Transfers made in the cell (by any of its agents: the cell's own ledger holds only this run's). */
  readonly transfers: number | null;
}

export function ledgerFiguresOf(done: readonly CellRow[], agent: string | null): LedgerFigures {
  const mean = (values: readonly number[]): number | null =>
    values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
  const of = (pick: (c: CellRow) => string | undefined): number[] =>
    done.flatMap((c) => {
      const v = pick(c);
      return v === undefined ? [] : [Number(v)];
    });
  if (agent === null) return { balance: null, netFlow: null, transfers: null };
  const own = done.filter((c) => c.metrics?.netFlow[agent] !== undefined);
  return {
    balance: mean(of((c) => c.metrics?.balances[agent])),
    netFlow: mean(of((c) => c.metrics?.netFlow[agent])),
    transfers: own.length === 0 ? null : mean(own.map((c) => c.metrics!.transfers)),
  };
}

/** A team over all its variants, as P2Engine's "Team Aggregate" showed it. */
export interface TeamReport {
  readonly team: string;
  readonly variants: number;
  /** The best variant by the mean of the first metric the team was scored on; null when nothing was scored. */
  readonly best: { readonly variant: string; readonly metric: string; readonly mean: number } | null;
  readonly tokens: number;
  readonly costUsd: number;
  /** The longest cell's wall time. */
  readonly maxElapsedMs: number | null;
  /** What the variants' agents paid out and received, summed over the team's cells (null: no ledger figures). */
  readonly paidOut: number | null;
  readonly received: number | null;
}

export function teamReports(
  variants: readonly {
    readonly team: string;
    readonly variant: string;
    readonly agent: string | null;
    readonly metrics: Readonly<Record<string, { readonly mean: number | null }>>;
  }[],
  cells: readonly CellRow[],
): TeamReport[] {
  const teams = [...new Set(variants.map((v) => v.team))];
  return teams.map((team) => {
    const mine = variants.filter((v) => v.team === team);
    // The first metric this team was scored on (another team's eval metric may be empty here).
    const metric = [...new Set(mine.flatMap((v) => Object.keys(v.metrics)))].find((m) =>
      mine.some((v) => (v.metrics[m]?.mean ?? null) !== null),
    );
    let best: TeamReport['best'] = null;
    for (const v of mine) {
      const mean = metric === undefined ? null : (v.metrics[metric]?.mean ?? null);
      if (metric !== undefined && mean !== null && (best === null || mean > best.mean))
        best = { variant: v.variant, metric, mean };
    }
    const agents = new Map(mine.map((v) => [v.variant, v.agent]));
    const done = cells.filter((c) => c.team === team && c.status === 'done' && c.metrics !== null);
    let paidOut: number | null = null;
    let received: number | null = null;
    for (const c of done) {
      const agent = agents.get(c.variant);
      const flow = agent == null ? undefined : c.metrics!.netFlow[agent];
      if (flow === undefined) continue;
      const n = Number(flow);
      paidOut = (paidOut ?? 0) + Math.max(0, -n);
      received = (received ?? 0) + Math.max(0, n);
    }
    const elapsed = done.map((c) => c.metrics!.latencyMs);
    return {
      team,
      variants: mine.length,
      best,
      tokens: done.reduce((a, c) => a + c.metrics!.tokens, 0),
      costUsd: done.reduce((a, c) => a + c.metrics!.costUsd, 0),
      maxElapsedMs: elapsed.length === 0 ? null : Math.max(...elapsed),
      paidOut,
      received,
    };
  });
}
