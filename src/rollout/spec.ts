// Long because the spec's schema, its checks against the workspace and P2Engine's variant expansion are one reader (key policy: spec-keys.ts).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError, ValidationError, suggest, type ValidationIssue } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import { parseYamlWith } from '../core/yaml-schema.ts';
import { evaluatorConfigSchema } from '../judge/config.ts';
import { unknownAgentIssues } from '../judge/scope.ts';
import { decimal } from '../ledger/decimal.ts';
import type { Workspace } from '../app/workspace.ts';
import { EFFECTS_POLICIES, type EffectsPolicy } from '../engine/effects-policy.ts';
import type { PersonaOverride } from '../engine/branching.ts';
import type { Criterion } from '../judge/rubric.ts';
import { classifyVariantKey, mapVariantModels, parseInlineRubric, suggestFields } from './spec-keys.ts';
import { resolveBehaviorTemplate } from '../agents/templates.ts';
import { modelRefSchema } from '../models/model-ref.ts';

/**
 * A rollout spec: YAML in `rollouts/`. It reads P2Engine's format as it is (`teams.<id>` with `initial_message`,
 * `base`, `variants` as a list or as a dict of lists for a cross product, `eval` with `evaluator_id`, `metric`,
 * `rubric`) and extends it: scenarios, repeats with seeds, a baseline variant, budgets, ledger setup, `fork_from`,
 * the approval policy of unattended cells, and judge settings.
 */

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _, . and -');
/** What effectful tool calls do in a cell (engine/effects-policy.ts); absent: the workspace's `effects:`. */
const effects = z.enum(EFFECTS_POLICIES as [EffectsPolicy, ...EffectsPolicy[]]);
const amount = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return decimal.canonical(v);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/**
 * What a variant (merged over `base`) may set. P2Engine's keys: `agent_id`, `model`, `temperature`, `top_p`, `tools`,
 * `behavior_template` (a template of templates/, or the system prompt itself), `initial_message`; p2tui's: `id`,
 * `system`, `personas` (other agents of the team), `effects`, and `max_tokens` (P2Engine ignored it). Other keys:
 * see spec-keys.ts.
 */
const personaOverrideSchema = z.strictObject({
  model: modelRefSchema('openai/gpt-4o-mini').optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  max_tokens: z.int().min(1).optional(),
  tools: z.array(z.string().min(1)).optional(),
  system: z.string().min(1).optional(),
});

const variantSchema = z
  .object({
    id: id.optional(),
    agent_id: z.string().min(1).optional(),
    model: modelRefSchema('openai/gpt-4o-mini').optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.int().min(1).optional(),
    tools: z.array(z.string().min(1)).optional(),
    behavior_template: z.string().min(1).optional(),
    system: z.string().min(1).optional(),
    initial_message: z.string().min(1).optional(),
    personas: z.record(z.string(), personaOverrideSchema).optional(),
    effects: effects.optional(),
  })
  .catchall(z.unknown());

/** A team's base: a variant's keys, with models as written (P2Engine's LiteLLM ids), checked once mapped. */
const baseSchema = variantSchema.extend({
  model: z.string().min(1).optional(),
  personas: z.record(z.string(), personaOverrideSchema.extend({ model: z.string().min(1).optional() })).optional(),
});

const scenarioSchema = z.union([
  z
    .string()
    .min(1)
    .transform((message) => ({ message })),
  z.strictObject({ id: id.optional(), message: z.string().min(1) }),
]);

const evalSchema = z.strictObject({
  /** P2Engine's judge id: `gpt4_judge` (or any id) means the rubric judge on the configured judge model. */
  evaluator_id: z.string().min(1),
  metric: z.string().min(1).default('score'),
  /** A rubric of rubrics/ by id, or the rubric's text written here. */
  rubric: z.string().min(1).optional(),
  /** P2Engine accepted these and did nothing with them; kept for compatibility. */
  prompts: z.array(z.string()).optional(),
  /** Recorded with every score of this eval (in the evaluator's version), as P2Engine recorded its judge's. */
  judge_version: z
    .union([z.string().min(1), z.number()])
    .transform(String)
    .optional(),
  /** How long one judge call may take before that score fails (P2Engine's wait for the evaluation). */
  timeout_sec: z.number().positive().max(3_600).optional(),
});

const teamSchema = z.strictObject({
  initial_message: z.string().min(1).optional(),
  /** Several tasks for the same team (each variant runs each of them). */
  scenarios: z.array(scenarioSchema).min(1).optional(),
  // Its models are checked in each merged variant, after LiteLLM ids (`gpt-3.5-turbo`) are mapped to p2tui's.
  base: baseSchema.default({}),
  // Each variant is checked merged over the base (below), so an error names the variant and its key, not the union.
  variants: z
    .union([z.array(z.record(z.string(), z.unknown())).min(1), z.record(z.string(), z.array(z.unknown()).min(1))])
    .optional(),
  /** The variant the others are compared with (its id, or its 1-based position as `v1`). Default: the first. */
  baseline: z.string().min(1).optional(),
  eval: evalSchema.optional(),
});

const budgetSchema = z.strictObject({
  steps: z.int().min(1).optional(),
  tokens: z.int().min(1).optional(),
  cost_usd: z.number().positive().optional(),
  total_tokens: z.int().min(1).optional(),
  total_cost_usd: z.number().positive().optional(),
  /** Wall time of one cell before it is cancelled and recorded as failed. */
  timeout_s: z.number().positive().optional(),
});

export const rolloutSpecSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  teams: z.record(id, teamSchema).refine((t) => Object.keys(t).length > 0, 'at least one team'),
  /** Runs of every (variant, scenario) pair, each with its own seed. */
  repeats: z.int().min(1).max(100_000).default(1),
  /** Explicit seeds (one per repeat); otherwise `seed`, `seed + 1`, … */
  seeds: z.array(z.int()).min(1).optional(),
  seed: z.int().default(1),
  /** Cells running at once (the providers' own limits apply too). */
  concurrency: z.int().min(1).max(1_000).default(4),
  budgets: budgetSchema.default({}),
  ledger: z
    .strictObject({
      /** Starting balances per agent (default: the persona's `balance:`). */
      balances: z.record(z.string(), amount).default({}),
      /** One set of parties for every cell (payments of one cell show in the others); default: parties per cell. */
      shared_ledger: z.boolean().default(false),
    })
    .default({ balances: {}, shared_ledger: false }),
  /** Run every variant from a shared prefix of an existing session's branch: each cell is a branch of it. */
  fork_from: z
    .strictObject({ session: z.string().min(1), branch: z.string().min(1).optional(), seq: z.int().min(1).optional() })
    .optional(),
  /** How agents' questions and approvals are answered in unattended cells. */
  approval: z.enum(['deny', 'approve']).default('deny'),
  /** What effectful calls do in every cell (a variant's `effects:` beats it); absent: p2tui.yaml's `effects:`. */
  effects: effects.optional(),
  judge: z
    .strictObject({
      /** Extra evaluators for every cell (as in p2tui.yaml's judge.evaluators), judged on demand. */
      evaluators: z.array(evaluatorConfigSchema).default([]),
      /** Judge runs per cell and evaluator. */
      samples: z.int().min(1).max(20).optional(),
      /** Also wait for the workspace's own evaluators (those that run when a conversation finishes). Default true. */
      workspace: z.boolean().default(true),
    })
    .default({ evaluators: [], workspace: true }),
});

export type RolloutSpecFile = z.output<typeof rolloutSpecSchema>;

/** One variant, merged over the team's base, with its overrides per agent. */
export interface Variant {
  readonly id: string;
  readonly agent: string;
  readonly initialMessage: string | undefined;
  /** Per agent: model, temperature, tools, system prompt. */
  readonly personas: Readonly<Record<string, PersonaOverride>>;
  /** The settings as written (flattened for display), without the keys that decide nothing. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Keys accepted and not applied (P2Engine ignored them too): reported, not used. */
  readonly ignored: readonly string[];
  /** The variant's `effects:`, else the spec's; undefined: the workspace's policy. */
  readonly effects: EffectsPolicy | undefined;
}

export interface Team {
  readonly id: string;
  readonly variants: readonly Variant[];
  readonly scenarios: readonly { readonly id: string; readonly message: string }[];
  readonly baseline: string;
  readonly eval: z.output<typeof evalSchema> | undefined;
  /** The eval's rubric written inline, with its weighted criteria (one criterion when it gives no weights). */
  readonly inlineRubric: { readonly description: string; readonly criteria: readonly Criterion[] } | undefined;
  readonly initialMessage: string | undefined;
}

export interface RolloutSpec {
  readonly file: string;
  readonly name: string;
  readonly hash: string;
  readonly raw: RolloutSpecFile;
  readonly teams: readonly Team[];
  readonly seeds: readonly number[];
  /** Warnings for the user (ignored keys), with where they are. */
  readonly notes: readonly string[];
}

/** How a spec is read for one run. */
export interface SpecReading {
  /**
   * `rollout run --model`: every agent runs on it, so a model the spec names that p2tui cannot reach (an `anthropic/…`
   * P2Engine id) is noted as unused instead of refused — the offline dry run of such a spec is the point of --model.
   */
  readonly modelOverride?: string | undefined;
}

/** Reads and checks a spec file against the workspace: every error names the line, column and key. */
export function loadRolloutSpec(
  file: string,
  workspace: Workspace,
  displayName = file,
  reading: SpecReading = {},
): RolloutSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(
      'E_USAGE',
      `cannot read rollout spec ${displayName}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        hint: 'Name a YAML file, e.g. rollouts/example.yaml.',
      },
    );
  }
  return parseRolloutSpec(text, displayName, workspace, reading);
}

export function parseRolloutSpec(
  text: string,
  file: string,
  workspace: Workspace,
  reading: SpecReading = {},
): RolloutSpec {
  let parsed: ReturnType<typeof parseYamlWith<typeof rolloutSpecSchema>>;
  try {
    parsed = parseYamlWith(rolloutSpecSchema, text, file, { code: 'E_ROLLOUT_SPEC', hint: 'Fix the rollout spec.' });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError('E_ROLLOUT_SPEC', suggestFields(error.issues, fieldsAt), 'Fix the rollout spec.');
  }
  const raw = parsed.value;
  const issues: ValidationIssue[] = [];
  const notes: string[] = [];
  // Once per team and key, not once per variant: a dict of lists repeats every key in each combination.
  const note = (text: string): void => {
    if (!notes.includes(text)) notes.push(text);
  };
  const at = (path: (string | number)[], field: string, message: string): void => {
    issues.push({ file, ...parsed.locate(path), field, message });
  };
  const personas = [...workspace.personas.keys()];
  const knownTool = (t: string): boolean =>
    workspace.tools.get(t) !== undefined || t === 'delegate' || t === 'ask_user';
  const declared = [...new Set([...Object.keys(workspace.config.providers), ...workspace.providers.ids()])];
  const teams: Team[] = [];
  for (const [teamId, team] of Object.entries(raw.teams)) {
    const path = ['teams', teamId];
    const variants = expandVariants(team.variants, team.base);
    const built: Variant[] = [];
    const seen = new Set<string>();
    variants.forEach((merged, i) => {
      const vPath = Array.isArray(team.variants)
        ? [...path, 'variants', i]
        : team.variants === undefined
          ? [...path, 'base']
          : [...path, 'variants'];
      const vField = `teams.${teamId}.variants[${i}]`;
      // Where a setting was written: in this variant (or the dict of lists), else in the team's base.
      const written = (key: string): (string | number)[] => {
        const own = Array.isArray(team.variants)
          ? (team.variants[i] as Record<string, unknown>)[key]
          : (team.variants as Record<string, unknown> | undefined)?.[key];
        return own !== undefined ? [...vPath, key] : [...path, 'base', key];
      };
      // Where a model is written: the variant's own entry, the base, or its value in a dict of lists.
      const modelPath = (key: readonly string[], value: string): (string | number)[] => {
        const own = (o: unknown): boolean =>
          key.reduce<unknown>((n, k) => (isPlain(n) ? n[k] : undefined), o) === value;
        if (Array.isArray(team.variants)) {
          if (own(team.variants[i])) return [...vPath, ...key];
        } else if (team.variants !== undefined) {
          const values = (team.variants as Record<string, unknown[]>)[key[0]!];
          const j = values?.findIndex((x) => own({ [key[0]!]: x })) ?? -1;
          if (j >= 0) return [...path, 'variants', key[0]!, j, ...key.slice(1)];
        }
        return [...path, 'base', ...key];
      };
      // Every key under the one policy (spec-keys.ts): unknown keys are errors, where they are written.
      let unknown = false;
      const ignored: string[] = [];
      for (const key of Object.keys(merged)) {
        const verdict = classifyVariantKey(key);
        if (verdict.kind === 'unknown') {
          unknown = true;
          // A key of the base (or of a dict of lists) is in every variant: said once, where it is written.
          const where = parsed.locate(written(key));
          if (
            !issues.some((x) => x.line === where?.line && x.column === where?.column && x.message === verdict.message)
          )
            at(
              written(key),
              written(key).at(-2) === 'base' ? `teams.${teamId}.base.${key}` : `${vField}.${key}`,
              verdict.message,
            );
        } else if (verdict.kind !== 'known') {
          note(`${file}: teams.${teamId}: ${verdict.note}`);
          if (verdict.kind === 'ignored') ignored.push(key);
        }
      }
      // Models as P2Engine named them (LiteLLM ids): mapped to p2tui's with a note, or refused where written.
      const { variant: mapped, models } = mapVariantModels(merged, declared);
      let unsupported = false;
      for (const m of models) {
        const key = m.path.join('.');
        const result = m.mapped;
        if (result.kind === 'mapped') note(`${file}: teams.${teamId}: ${key}: ${result.note}`);
        if (result.kind !== 'unsupported') continue;
        if (reading.modelOverride !== undefined) {
          note(
            `${file}: teams.${teamId}: ${key}: '${m.id}' is not used: --model ${reading.modelOverride} runs every agent`,
          );
          // Left out of this run's variant (mapVariantModels made these objects, so they are this variant's own).
          const [first, agent] = m.path;
          if (first === 'model') delete mapped['model'];
          else if (agent !== undefined)
            delete (mapped['personas'] as Record<string, Record<string, unknown>>)[agent]!['model'];
          continue;
        }
        unsupported = true;
        const where = modelPath(m.path, m.id);
        const loc = parsed.locate(where);
        if (!issues.some((x) => x.line === loc?.line && x.column === loc?.column && x.message === result.message))
          at(where, where.includes('base') ? `teams.${teamId}.base.${key}` : `${vField}.${key}`, result.message);
      }
      const checked = variantSchema.safeParse(mapped);
      if (unknown || unsupported) return;
      if (!checked.success) {
        for (const issue of checked.error.issues) {
          // A key written in the base (a model checked once mapped) is pointed at there, not at every variant.
          const [key, ...rest] = issue.path as (string | number)[];
          const where =
            typeof key === 'string' ? [...written(key), ...rest] : [...vPath, ...(issue.path as (string | number)[])];
          const field = where.at(-2 - rest.length) === 'base' ? `teams.${teamId}.base` : vField;
          const loc = parsed.locate(where);
          if (!issues.some((x) => x.line === loc?.line && x.column === loc?.column && x.message === issue.message))
            at(where, `${field}.${issue.path.join('.')}`, issue.message);
        }
        return;
      }
      const v = checked.data;
      const agent = v.agent_id;
      if (agent === undefined) {
        at(
          vPath,
          `${vField}.agent_id`,
          `no agent_id: set it under teams.${teamId}.base or in the variant (one of ${personas.join(', ')})`,
        );
        return;
      }
      if (!workspace.personas.has(agent)) {
        const near = suggest(agent, personas);
        const broken = workspace.brokenPersonas.find((b) => b.id === agent);
        at(
          written('agent_id'),
          `${vField}.agent_id`,
          broken !== undefined
            ? `agent '${agent}' is unavailable: ${broken.file} is broken (p2tui agents list says why)`
            : `unknown agent '${agent}'${near === undefined ? '' : ` (did you mean ${near}?)`}; personas: ${personas.join(', ')}`,
        );
        return;
      }
      for (const [j, t] of (v.tools ?? []).entries()) {
        if (!knownTool(t))
          at([...written('tools'), j], `${vField}.tools[${j}]`, `unknown tool '${t}'${suggestTool(t, workspace)}`);
      }
      for (const [other, o] of Object.entries(v.personas ?? {})) {
        if (!workspace.personas.has(other))
          at(
            [...vPath, 'personas', other],
            `${vField}.personas.${other}`,
            `unknown agent '${other}'; personas: ${personas.join(', ')}`,
          );
        for (const [j, t] of (o.tools ?? []).entries())
          if (!knownTool(t))
            at(
              [...vPath, 'personas', other, 'tools', j],
              `${vField}.personas.${other}.tools[${j}]`,
              `unknown tool '${t}'${suggestTool(t, workspace)}`,
            );
      }
      // P2Engine's behavior_template names a persona template; text with a space is the prompt itself.
      let system = v.system;
      if (v.behavior_template !== undefined) {
        const template = resolveBehaviorTemplate(workspace.root, v.behavior_template);
        if ('error' in template) {
          at(written('behavior_template'), `${vField}.behavior_template`, template.error);
          return;
        }
        system = template.text;
      }
      const root = {
        ...(v.model === undefined ? {} : { model: v.model }),
        ...(v.temperature === undefined ? {} : { temperature: v.temperature }),
        ...(v.top_p === undefined ? {} : { top_p: v.top_p }),
        ...(v.max_tokens === undefined ? {} : { max_tokens: v.max_tokens }),
        ...(v.tools === undefined ? {} : { tools: v.tools }),
        ...(system === undefined ? {} : { system }),
      };
      // Only the variant's own `tools` is P2Engine's key; `personas.<agent>.tools` is p2tui's and keeps delegates.
      const overrides: Record<string, PersonaOverride> = { ...(v.personas ?? {}) };
      if (Object.keys(root).length > 0)
        overrides[agent] = { ...(overrides[agent] ?? {}), ...root, ...withoutDelegation(v.tools) };
      const settings = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'id' && !ignored.includes(k)));
      // P2Engine numbered variants v001, v002, …; a variant may name itself here.
      const variantId = v.id ?? `v${i + 1}`;
      if (seen.has(variantId))
        at([...vPath, 'id'], `${vField}.id`, `variant id '${variantId}' is used twice in team ${teamId}`);
      seen.add(variantId);
      const policy = v.effects ?? raw.effects;
      built.push({
        id: variantId,
        agent,
        initialMessage: v.initial_message,
        personas: overrides,
        settings,
        ignored,
        effects: policy,
      });
    });
    const scenarios = (team.scenarios ?? []).map((s, i) => ({
      id: ('id' in s ? s.id : undefined) ?? `s${i + 1}`,
      message: s.message,
    }));
    if (scenarios.length === 0) {
      const message = team.initial_message;
      const perVariant = built.every((b) => b.initialMessage !== undefined);
      if (message === undefined && !perVariant)
        at(
          path,
          `teams.${teamId}.initial_message`,
          'no task: give initial_message (or scenarios, or initial_message in every variant)',
        );
      // The task comes from the variant's initial_message, else the team's (P2Engine's order).
      scenarios.push({ id: 's1', message: '' });
    }
    let baseline = built[0]?.id ?? 'v1';
    if (team.baseline !== undefined) {
      if (!built.some((b) => b.id === team.baseline))
        at(
          [...path, 'baseline'],
          `teams.${teamId}.baseline`,
          `no variant '${team.baseline}' in team ${teamId} (variants: ${built.map((b) => b.id).join(', ')})`,
        );
      baseline = team.baseline;
    }
    if (
      team.eval?.rubric !== undefined &&
      isRubricId(team.eval.rubric) &&
      !workspace.evaluators.rubrics.has(team.eval.rubric)
    ) {
      const near = suggest(team.eval.rubric, workspace.evaluators.rubrics.keys());
      const didYouMean = near === undefined ? '' : ` (did you mean ${near}?)`;
      const rubrics = [...workspace.evaluators.rubrics.keys()].join(', ') || 'none';
      at(
        [...path, 'eval', 'rubric'],
        `teams.${teamId}.eval.rubric`,
        `unknown rubric '${team.eval.rubric}'${didYouMean}; rubrics/ has ${rubrics} (or write the rubric's text here)`,
      );
    }
    if (team.eval?.prompts !== undefined)
      note(
        `${file}: teams.${teamId}.eval.prompts is accepted but not used: P2Engine never read it either ` +
          '(the judge gets the rubric, or the default one)',
      );
    let inlineRubric: Team['inlineRubric'];
    const rubricText = team.eval?.rubric;
    if (rubricText !== undefined && !isRubricId(rubricText)) {
      const parsedRubric = parseInlineRubric(rubricText);
      if (parsedRubric !== undefined && 'error' in parsedRubric)
        at([...path, 'eval', 'rubric'], `teams.${teamId}.eval.rubric`, parsedRubric.error);
      else if (parsedRubric !== undefined) {
        inlineRubric = parsedRubric;
        if (Math.abs(parsedRubric.total - 1) > 1e-6)
          note(
            `${file}: teams.${teamId}.eval.rubric: weights sum to ${Number(parsedRubric.total.toFixed(6))}, not 1; ` +
              'each criterion counts by its share of the sum',
          );
      } else
        inlineRubric = { description: rubricText, criteria: [{ id: 'overall', description: rubricText, weight: 1 }] };
    }
    teams.push({
      id: teamId,
      variants: built,
      scenarios,
      baseline,
      eval: team.eval,
      inlineRubric,
      initialMessage: team.initial_message,
    });
  }
  // Every agent an evaluator is scoped to must be a persona: a typo would score nothing, silently.
  issues.push(
    ...unknownAgentIssues(
      raw.judge.evaluators,
      [...personas, ...workspace.brokenPersonas.map((b) => b.id)],
      file,
      (i) => `judge.evaluators[${i}]`,
      (i, j) => parsed.locate(['judge', 'evaluators', i, 'agents', j]) ?? {},
    ),
  );
  raw.judge.evaluators.forEach((e, i) => {
    if (e.kind === 'llm' && typeof e.rubric === 'string' && !workspace.evaluators.rubrics.has(e.rubric))
      at(['judge', 'evaluators', i, 'rubric'], `judge.evaluators[${i}].rubric`, `unknown rubric '${e.rubric}'`);
    if (e.kind === 'custom' && !workspace.evaluators.custom.has(e.evaluator!))
      at(
        ['judge', 'evaluators', i, 'evaluator'],
        `judge.evaluators[${i}].evaluator`,
        `no evaluator '${e.evaluator}' in evaluators/`,
      );
  });
  if (raw.seeds !== undefined && new Set(raw.seeds).size !== raw.seeds.length)
    at(
      ['seeds'],
      'seeds',
      'a seed is given twice: repeats with the same seed are the same cell; give each repeat its own seed',
    );
  if (raw.seeds !== undefined && raw.seeds.length !== raw.repeats && raw.repeats !== 1)
    at(
      ['seeds'],
      'seeds',
      `${raw.seeds.length} seeds for ${raw.repeats} repeats: give one per repeat (or leave repeats out)`,
    );
  // `ask` waits for a person, and nobody sits at a rollout's cells: only a spec that says how approvals are answered
  // (`approval: deny` refuses every effectful call, `approve` runs each) may ask; a default would decide silently.
  const asks = teams.some((t) => t.variants.some((v) => v.effects === 'ask'));
  const written = asks ? (parseYaml(text) as unknown) : undefined;
  if (asks && !(isPlain(written) && written['approval'] !== undefined))
    for (const team of teams)
      team.variants.forEach((v, i) => {
        if (v.effects !== 'ask') return;
        const own = variantKeyPath(raw.teams[team.id]!, i, 'effects');
        const field = own === undefined ? 'effects' : `teams.${team.id}.variants[${i}].effects`;
        if (issues.some((x) => x.field === field)) return;
        at(
          own === undefined ? ['effects'] : ['teams', team.id, ...own],
          field,
          "'ask' waits for a person's approval of every effectful call, and nobody answers in a rollout's cells: " +
            'set approval: deny (each such call is refused) or approval: approve (each runs), or use effects: dry-run',
        );
      });
  for (const agent of Object.keys(raw.ledger.balances))
    if (!workspace.personas.has(agent))
      at(['ledger', 'balances', agent], `ledger.balances.${agent}`, `unknown agent '${agent}'`);
  if (issues.length > 0) throw new ValidationError('E_ROLLOUT_SPEC', issues, 'Fix the rollout spec; nothing was run.');
  const seeds = raw.seeds ?? Array.from({ length: raw.repeats }, (_, i) => raw.seed + i);
  return {
    file,
    name: raw.name ?? file.replace(/^.*\//, '').replace(/\.ya?ml$/, ''),
    hash: sha256(canonicalJson(raw)).slice(0, 16),
    raw,
    teams,
    seeds,
    notes,
  };
}

/** The fields a strict level of the spec takes, by the field path of an issue there. */
function fieldsAt(field: string): readonly string[] | undefined {
  if (field === '') return Object.keys(rolloutSpecSchema.shape);
  if (/^teams\.[^.]+$/.test(field)) return Object.keys(teamSchema.shape);
  if (/^teams\.[^.]+\.eval$/.test(field)) return Object.keys(evalSchema.shape);
  if (field === 'budgets') return Object.keys(budgetSchema.shape);
  return undefined;
}

/** Where a variant's key is written (its own entry, the dict of lists, or the base); undefined: not in the team. */
function variantKeyPath(
  team: RolloutSpecFile['teams'][string],
  i: number,
  key: string,
): (string | number)[] | undefined {
  const variants = team.variants as unknown;
  if (Array.isArray(variants) && isPlain(variants[i]) && variants[i][key] !== undefined) return ['variants', i, key];
  if (isPlain(variants) && variants[key] !== undefined) return ['variants', key];
  return (team.base as Record<string, unknown>)[key] !== undefined ? ['base', key] : undefined;
}

/**
 * P2Engine's tools list is the agent's whole tool list, delegation included: a variant's `tools` without `delegate`
 * is an agent that does not delegate (its demo_rollout.yml compares `[get_weather]` with `[get_weather, delegate]`).
 */
function withoutDelegation(tools: readonly string[] | undefined): { agents?: readonly string[] } {
  return tools === undefined || tools.includes('delegate') ? {} : { agents: [] };
}

/**
 * A rubric named by id (a word) rather than written out (a sentence): a single word of P2Engine's rubric-name
 * characters (its library allowed a leading digit).
 */
export function isRubricId(text: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(text) && /[A-Za-z]/.test(text);
}

/** P2Engine's expansion: a list is one run per entry; a dict of lists is their cross product; each over the base. */
export function expandVariants(variants: unknown, base: Record<string, unknown>): Record<string, unknown>[] {
  if (variants === undefined) return [deepMerge({}, base)];
  if (Array.isArray(variants)) return variants.map((v) => deepMerge(base, v as Record<string, unknown>));
  let combos: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(variants as Record<string, unknown[]>)) {
    combos = combos.flatMap((c) => values.map((value) => ({ ...c, [key]: value })));
  }
  return combos.map((c) => deepMerge(base, c));
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isPlain(prev) && isPlain(v) ? deepMerge(prev, v) : structuredClone(v);
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function suggestTool(name: string, workspace: Workspace): string {
  const near = suggest(name, workspace.tools.names());
  return near === undefined ? '' : ` (did you mean ${near}?)`;
}
