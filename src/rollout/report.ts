import type { JsonValue } from '../core/json.ts';
import { effectsPolicyOf, type EffectsPolicy } from '../engine/effects-policy.ts';
import type { CellRow, RolloutRow } from '../store/rollouts.ts';
import type { Store } from '../store/store.ts';
import { isFlaky, pairedDiff, summarize, welchDiff, type PairedDiff, type Summary } from './stats.ts';
import { measuredText, roundMeasured } from '../core/money.ts';
import { ledgerFiguresOf, variantConfigs, type LedgerFigures, type TeamReport } from './variant-figures.ts';

/** What a rollout found per variant: each metric's mean with its interval, the difference to the baseline, flakes. */
export interface VariantReport {
  readonly team: string;
  readonly variant: string;
  readonly baseline: boolean;
  readonly cells: number;
  readonly failed: number;
  /** Per score metric (the team's eval metric, evaluator ids). */
  readonly metrics: Readonly<Record<string, Summary>>;
  /** Against the team's baseline, per metric: paired over matched scenarios and seeds. */
  readonly vsBaseline: Readonly<Record<string, PairedDiff>>;
  readonly cost: Summary;
  readonly tokens: Summary;
  readonly steps: Summary;
  readonly latencyMs: Summary;
  /** Scenarios whose repeats disagree by more than 0.3 on some metric. */
  readonly flaky: readonly string[];
  /** The effects policy its cells ran under ('dry-run', or 'live, dry-run' if they differed); null: none ran. */
  readonly effects: string | null;
  /** The variant's agent and settings as the spec wrote them (null agent: not in the stored spec). */
  readonly agent: string | null;
  readonly settings: Readonly<Record<string, unknown>>;
  /** Its agent's final balance, net flow and the cell's transfers, per cell. */
  readonly ledger: LedgerFigures;
}

/** Per cell that ran, the effects policy its branch ran under (the session's, or a `fork_from` cell's branch's). */
export type CellEffects = ReadonlyMap<string, EffectsPolicy>;

export function cellEffects(store: Pick<Store, 'sessions'>, cells: readonly CellRow[]): CellEffects {
  const out = new Map<string, EffectsPolicy>();
  for (const c of cells) {
    const session = c.session === null ? undefined : store.sessions.get(c.session);
    if (session === undefined) continue;
    const branch = store.sessions.branch(c.metrics?.branch ?? session.headBranch);
    out.set(c.id, effectsPolicyOf(session.options, branch?.overrides));
  }
  return out;
}

/** Whether some cell ran under a policy other than live (then listings show the policy of every cell). */
export function anyNotLive(effects: CellEffects): boolean {
  return [...effects.values()].some((p) => p !== 'live');
}

/** The metrics cells were scored on, in first-seen order. */
export function metricsOf(cells: readonly CellRow[]): string[] {
  const out: string[] = [];
  for (const c of cells) for (const m of Object.keys(c.metrics?.scores ?? {})) if (!out.includes(m)) out.push(m);
  return out;
}

/** Baselines per team, from the spec as stored (a team's `baseline`, else its first variant). */
export function baselinesOf(rollout: RolloutRow, cells: readonly CellRow[]): Map<string, string> {
  const spec = rollout.spec as { teams?: Record<string, { baseline?: string }> };
  const out = new Map<string, string>();
  for (const c of cells) if (!out.has(c.team)) out.set(c.team, spec.teams?.[c.team]?.baseline ?? c.variant);
  return out;
}

export function variantReports(
  rollout: RolloutRow,
  cells: readonly CellRow[],
  effects: CellEffects = new Map(),
): VariantReport[] {
  const metrics = metricsOf(cells);
  const baselines = baselinesOf(rollout, cells);
  const groups = new Map<string, CellRow[]>();
  // Pushed, not copied: a copy per cell made the summary of one variant's 10,000 cells quadratic.
  for (const c of cells) {
    const key = `${c.team}\n${c.variant}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [c]);
    else group.push(c);
  }
  const scored = (list: readonly CellRow[], metric: string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const c of list) {
      const v = c.status === 'done' ? c.metrics?.scores[metric] : undefined;
      if (typeof v === 'number') m.set(`${c.scenario}\n${c.seed}`, v);
    }
    return m;
  };
  const configs = variantConfigs(rollout);
  const out: VariantReport[] = [];
  for (const list of groups.values()) {
    const { team, variant } = list[0]!;
    const base = groups.get(`${team}\n${baselines.get(team)}`) ?? [];
    const done = list.filter((c) => c.status === 'done' && c.metrics !== null);
    const per = (f: (c: CellRow) => number): Summary => summarize(done.map(f));
    const flaky = new Set<string>();
    for (const metric of metrics) {
      const byScenario = new Map<string, number[]>();
      for (const c of done) {
        const v = c.metrics!.scores[metric];
        if (typeof v !== 'number') continue;
        const values = byScenario.get(c.scenario);
        if (values === undefined) byScenario.set(c.scenario, [v]);
        else values.push(v);
      }
      for (const [scenario, values] of byScenario) if (isFlaky(values)) flaky.add(scenario);
    }
    const isBaseline = baselines.get(team) === variant;
    out.push({
      team,
      variant,
      baseline: isBaseline,
      cells: list.length,
      failed: list.filter((c) => c.status === 'failed').length,
      metrics: Object.fromEntries(metrics.map((m) => [m, summarize([...scored(list, m).values()])])),
      vsBaseline: isBaseline
        ? {}
        : Object.fromEntries(metrics.map((m) => [m, pairedDiff(scored(list, m), scored(base, m))])),
      cost: per((c) => c.metrics!.costUsd),
      tokens: per((c) => c.metrics!.tokens),
      steps: per((c) => c.metrics!.steps),
      latencyMs: per((c) => c.metrics!.latencyMs),
      flaky: [...flaky],
      effects: policiesOf(list, effects),
      agent: configs.get(`${team}\n${variant}`)?.agent ?? null,
      settings: configs.get(`${team}\n${variant}`)?.settings ?? {},
      ledger: ledgerFiguresOf(done, configs.get(`${team}\n${variant}`)?.agent ?? null),
    });
  }
  return out;
}

/** The policies some of these cells ran under, in order ('live, dry-run' when they differ); null: none ran. */
export function policiesOf(cells: readonly CellRow[], effects: CellEffects): string | null {
  const ran = [...new Set(cells.flatMap((c) => effects.get(c.id) ?? []))];
  return ran.length === 0 ? null : ran.join(', ');
}

/** Two rollouts run at different times, per team, variant and metric: paired over matching cells, else Welch. */
export function compareRollouts(
  a: readonly CellRow[],
  b: readonly CellRow[],
): {
  team: string;
  variant: string;
  metric: string;
  a: Summary;
  b: Summary;
  diff: Summary & { significant: boolean };
  paired: boolean;
}[] {
  const metrics = [...new Set([...metricsOf(a), ...metricsOf(b)])];
  const keys = [...new Set([...a, ...b].map((c) => `${c.team}\n${c.variant}`))];
  const out: ReturnType<typeof compareRollouts> = [];
  for (const key of keys) {
    const [team, variant] = key.split('\n') as [string, string];
    const of = (cells: readonly CellRow[], metric: string): Map<string, number> => {
      const m = new Map<string, number>();
      for (const c of cells) {
        const v =
          c.team === team && c.variant === variant && c.status === 'done' ? c.metrics?.scores[metric] : undefined;
        if (typeof v === 'number') m.set(`${c.scenario}\n${c.seed}`, v);
      }
      return m;
    };
    for (const metric of metrics) {
      const ma = of(a, metric);
      const mb = of(b, metric);
      if (ma.size === 0 && mb.size === 0) continue;
      const matched = [...ma.keys()].filter((k) => mb.has(k)).length;
      const paired = matched >= 2 && matched === ma.size && matched === mb.size;
      out.push({
        team,
        variant,
        metric,
        a: summarize([...ma.values()]),
        b: summarize([...mb.values()]),
        diff: paired ? pairedDiff(mb, ma) : welchDiff([...mb.values()], [...ma.values()]),
        paired,
      });
    }
  }
  return out;
}

/** A cell as `--json`, CSV and JSONL show it. */
export function cellJson(c: CellRow, effects: CellEffects): JsonValue {
  return {
    id: c.id,
    team: c.team,
    variant: c.variant,
    scenario: c.scenario,
    repeat: c.repeat,
    seed: c.seed,
    status: c.status,
    session: c.session,
    error: c.error,
    metrics: c.metrics === null ? null : (JSON.parse(JSON.stringify(c.metrics, measuredJson)) as JsonValue),
    effects: effects.get(c.id) ?? null,
  };
}

/** Numbers in exports as measured, without the float noise of their sums (`0.0000453`, not `0.0000452999…97`). */
function measuredJson(_key: string, value: unknown): unknown {
  return typeof value === 'number' ? roundMeasured(value) : value;
}

export function summaryJson(s: Summary): JsonValue {
  const r = (n: number | null): number | null => (n === null ? null : roundMeasured(n));
  return { n: s.n, mean: r(s.mean), sd: r(s.sd), ci95: s.ci === null ? null : [r(s.ci[0]), r(s.ci[1])] };
}

/** The teams' aggregates as `--json` shows them. */
export function teamJson(t: TeamReport): JsonValue {
  return {
    team: t.team,
    variants: t.variants,
    best: t.best === null ? null : { variant: t.best.variant, metric: t.best.metric, mean: roundMeasured(t.best.mean) },
    tokens: t.tokens,
    cost_usd: roundMeasured(t.costUsd),
    max_elapsed_ms: t.maxElapsedMs,
    paid_out: t.paidOut === null ? null : roundMeasured(t.paidOut),
    received: t.received === null ? null : roundMeasured(t.received),
  };
}

export function variantJson(v: VariantReport): JsonValue {
  return {
    team: v.team,
    variant: v.variant,
    baseline: v.baseline,
    cells: v.cells,
    failed: v.failed,
    metrics: Object.fromEntries(Object.entries(v.metrics).map(([k, s]) => [k, summaryJson(s)])),
    vs_baseline: Object.fromEntries(
      Object.entries(v.vsBaseline).map(([k, d]) => [
        k,
        { ...(summaryJson(d) as Record<string, JsonValue>), pairs: d.pairs, significant: d.significant },
      ]),
    ),
    cost_usd: summaryJson(v.cost),
    tokens: summaryJson(v.tokens),
    steps: summaryJson(v.steps),
    latency_ms: summaryJson(v.latencyMs),
    flaky: [...v.flaky],
    effects: v.effects,
    agent: v.agent,
    settings: JSON.parse(JSON.stringify(v.settings)) as JsonValue,
    final_balance: v.ledger.balance === null ? null : roundMeasured(v.ledger.balance),
    net_flow: v.ledger.netFlow === null ? null : roundMeasured(v.ledger.netFlow),
    transfers: v.ledger.transfers === null ? null : roundMeasured(v.ledger.transfers),
  };
}

/** The cells as CSV: one row per cell, one column per metric. */
export function cellsCsv(
  cells: readonly CellRow[],
  effects: CellEffects,
  judgeVersionOf: (team: string) => string | null = () => null,
): string {
  const metrics = metricsOf(cells);
  // P2Engine's evaluations carried the judge's version: a column when any team's eval names one.
  const judged = cells.some((c) => judgeVersionOf(c.team) !== null);
  const agents = [...new Set(cells.flatMap((c) => Object.keys(c.metrics?.balances ?? {})))].sort();
  const header = [
    'cell',
    'team',
    'variant',
    'scenario',
    'repeat',
    'seed',
    'status',
    'session',
    ...metrics.map((m) => `score:${m}`),
    'steps',
    'tokens',
    'cost_usd',
    'latency_ms',
    'delegations',
    'transfers',
    ...agents.map((a) => `balance:${a}`),
    ...agents.map((a) => `net:${a}`),
    'error',
    'effects',
    ...(judged ? ['judge_version'] : []),
  ];
  const q = (v: unknown): string => {
    // Numbers as measured: sums of doubles wrote `0.000045299999999999997` for a cost of 0.0000453.
    const s = v === null || v === undefined ? '' : typeof v === 'number' ? measuredText(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const rows = cells.map((c) => {
    const m = c.metrics;
    return [
      c.id,
      c.team,
      c.variant,
      c.scenario,
      c.repeat,
      c.seed,
      c.status,
      c.session,
      ...metrics.map((k) => m?.scores[k] ?? ''),
      m?.steps,
      m?.tokens,
      m?.costUsd,
      m?.latencyMs,
      m?.delegations,
      m?.transfers,
      ...agents.map((a) => m?.balances[a] ?? ''),
      ...agents.map((a) => m?.netFlow[a] ?? ''),
      c.error,
      effects.get(c.id),
      ...(judged ? [judgeVersionOf(c.team)] : []),
    ]
      .map(q)
      .join(',');
  });
  return [header.join(','), ...rows].join('\n') + '\n';
}
