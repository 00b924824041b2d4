import { NO_TIMER, systemClock, type Clock, type Timer } from '../core/clock.ts';
import { UserError, ValidationError, messageOf, suggest, type ValidationIssue } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import type { ProviderRegistry } from '../models/registry.ts';
import type { CriterionResult } from '../store/scores.ts';
import { loadWorkspaceModules } from './modules.ts';
import { checkAssertions } from './assertions.ts';
import type { EvaluatorConfig, JudgeConfig } from './config.ts';
import { isEvaluator, type CustomEvaluator } from './define.ts';
import { llmJudge } from './llm-judge.ts';
import type { Material } from './material.ts';
import { loadRubrics, makeRubric, type Rubric } from './rubric.ts';
import { scoresConversation, unknownAgentIssues } from './scope.ts';

/** An evaluator ready to run: its configuration, what it uses, and the version every score records. */
export interface Evaluator {
  readonly id: string;
  readonly kind: EvaluatorConfig['kind'];
  readonly config: EvaluatorConfig;
  /** `<kind>@<hash of what decides its verdicts>` (rubric and prompt, assertions, or the custom evaluator's version). */
  readonly version: string;
  readonly rubric?: Rubric;
  readonly custom?: CustomEvaluator;
}

/** One verdict of an evaluator on some material. */
export interface Evaluation {
  readonly status: 'ok' | 'failed';
  readonly value: number | null;
  readonly criteria: readonly CriterionResult[];
  readonly reasoning: string;
  readonly model: string | null;
  readonly promptHash: string | null;
}

/**
 * The workspace's evaluators (`judge.evaluators` of p2tui.yaml), with the rubrics of `rubrics/` and the custom
 * evaluators of `evaluators/` they use; every reference is checked when the workspace loads.
 */
export class EvaluatorRegistry {
  readonly config: JudgeConfig;
  readonly rubrics: ReadonlyMap<string, Rubric>;
  readonly custom: ReadonlyMap<string, CustomEvaluator>;
  private readonly byId = new Map<string, Evaluator>();
  /** Evaluators of rollout specs: judged when a cell asks, never by a trigger of their own. */
  private readonly askedOnly = new Set<string>();
  private readonly defaultModel: string;

  constructor(
    config: JudgeConfig,
    options: {
      defaultModel: string;
      rubrics: ReadonlyMap<string, Rubric>;
      custom: ReadonlyMap<string, CustomEvaluator>;
      configFile?: string;
      /** The workspace's personas: `agents:` naming another is refused (it would score nothing, silently). */
      personas?: Iterable<string>;
    },
  ) {
    this.config = config;
    this.rubrics = options.rubrics;
    this.custom = options.custom;
    this.defaultModel = config.model ?? options.defaultModel;
    const issues: ValidationIssue[] = [];
    const file = options.configFile ?? 'p2tui.yaml';
    config.evaluators.forEach((e, i) => this.build(e, `judge.evaluators[${i}]`, file, issues));
    if (options.personas !== undefined)
      issues.push(...unknownAgentIssues(config.evaluators, options.personas, file, (i) => `judge.evaluators[${i}]`));
    if (issues.length > 0)
      throw new ValidationError(
        'E_CONFIG',
        issues,
        'Fix the judge section of p2tui.yaml, or add the rubric or evaluator it names.',
      );
  }

  /**
   * Adds evaluators a rollout spec defines (judged on demand, for its cells only). An id already registered with the
   * same version is kept; `file` names the spec in errors.
   */
  register(configs: readonly EvaluatorConfig[], file: string): Evaluator[] {
    const issues: ValidationIssue[] = [];
    const out: Evaluator[] = [];
    configs.forEach((c, i) => {
      // Its trigger fields (on, artifact_kind, milestone, agents) say what a cell's evaluation judges; it is never
      // triggered by itself (onFinished and the others leave it out).
      const built = this.build(c, `evaluators[${i}]`, file, issues, false);
      if (built === undefined) return;
      const known = this.byId.get(c.id);
      if (known !== undefined && known.version !== built.version) {
        issues.push({
          file,
          field: `evaluators[${i}].id`,
          message: `evaluator '${c.id}' exists already with other settings (in p2tui.yaml or another spec); name this one differently`,
        });
        return;
      }
      if (known === undefined) this.askedOnly.add(c.id);
      this.byId.set(c.id, known ?? built);
      out.push(known ?? built);
    });
    if (issues.length > 0)
      throw new ValidationError('E_ROLLOUT_SPEC', issues, 'Fix the evaluators of the rollout spec.');
    return out;
  }

  private build(
    e: EvaluatorConfig,
    field: string,
    file: string,
    issues: ValidationIssue[],
    store = true,
  ): Evaluator | undefined {
    {
      let rubric: Rubric | undefined;
      let custom: CustomEvaluator | undefined;
      if (e.kind === 'llm' && typeof e.rubric === 'string') {
        rubric = this.rubrics.get(e.rubric);
        if (rubric === undefined) {
          const near = suggest(e.rubric, this.rubrics.keys());
          const didYouMean = near === undefined ? '' : ` (did you mean ${near}?)`;
          const rubrics = [...this.rubrics.keys()].join(', ') || 'none';
          issues.push({
            file,
            field: `${field}.rubric`,
            message: `unknown rubric '${e.rubric}'${didYouMean}; rubrics/ has ${rubrics}`,
          });
        }
      } else if (e.kind === 'llm' && e.rubric !== undefined && typeof e.rubric !== 'string') {
        rubric = makeRubric(e.id, e.rubric, file);
      }
      if (e.kind === 'custom') {
        custom = this.custom.get(e.evaluator!);
        if (custom === undefined)
          issues.push({
            file,
            field: `${field}.evaluator`,
            message: `no evaluator '${e.evaluator}' in evaluators/ (found: ${[...this.custom.keys()].join(', ') || 'none'})`,
          });
      }
      const basis =
        e.kind === 'llm'
          ? (rubric?.version ?? '')
          : e.kind === 'assert'
            ? sha256(JSON.stringify(e.assert)).slice(0, 12)
            : (custom?.version ?? '1');
      const evaluator: Evaluator = {
        id: e.id,
        kind: e.kind,
        config: e,
        version: `${e.kind}@${basis}${e.judge_version === undefined ? '' : ` judge_version=${e.judge_version}`}`,
        ...(rubric === undefined ? {} : { rubric }),
        ...(custom === undefined ? {} : { custom }),
      };
      if (store) this.byId.set(e.id, evaluator);
      return evaluator;
    }
  }

  list(): Evaluator[] {
    return [...this.byId.values()];
  }

  /** The evaluators the engine's triggers may queue: p2tui.yaml's, not the rollout specs'. */
  private triggered(): Evaluator[] {
    return this.list().filter((e) => !this.askedOnly.has(e.id));
  }

  get(id: string): Evaluator | undefined {
    return this.byId.get(id);
  }

  require(id: string): Evaluator {
    const found = this.byId.get(id);
    if (found !== undefined) return found;
    const near = suggest(id, this.byId.keys());
    throw new UserError('E_UNKNOWN_EVALUATOR', `no evaluator '${id}' in this workspace`, {
      hint:
        this.byId.size === 0
          ? 'Add one under judge.evaluators in p2tui.yaml (see the README, section The judge).'
          : `${near === undefined ? '' : `Did you mean ${near}? `}Evaluators: ${[...this.byId.keys()].join(', ')}.`,
    });
  }

  /** The judge model an llm evaluator uses. */
  modelOf(evaluator: Evaluator): string {
    return evaluator.config.model ?? this.defaultModel;
  }

  /** Evaluators that run when a conversation of `agent` finishes (`root`: it is the session's top conversation). */
  onFinished(agent: string, root: boolean): Evaluator[] {
    return this.triggered().filter((e) => e.config.on === 'finished' && scoresConversation(e.config, agent, root));
  }

  onMilestone(name: string): Evaluator[] {
    return this.triggered().filter(
      (e) =>
        e.config.on === 'milestone' &&
        (e.config.milestone === undefined || e.config.milestone === '*' || e.config.milestone === name),
    );
  }

  onArtifact(kind: string): Evaluator[] {
    return this.triggered().filter(
      (e) => e.config.on === 'artifact' && (e.config.artifact_kind === undefined || e.config.artifact_kind === kind),
    );
  }

  /** Runs one evaluator once on some material. Never throws for a judge's own failure: that is a failed evaluation. */
  async evaluate(
    evaluator: Evaluator,
    material: Material,
    ctx: {
      providers: ProviderRegistry;
      signal: AbortSignal;
      sample: number;
      seed: number;
      clock?: Clock;
      /** The judge model of the session judged (its `judgeModel` option), beating the evaluator's own. */
      model?: string;
    },
  ): Promise<Evaluation> {
    if (evaluator.kind === 'assert') {
      const checked = checkAssertions(evaluator.config.assert!, material);
      return {
        status: 'ok',
        value: checked.value,
        criteria: checked.criteria,
        reasoning: checked.reasoning,
        model: null,
        promptHash: null,
      };
    }
    if (evaluator.kind === 'custom') {
      try {
        // Bounded like a judge model call: a hung evaluator fails its job instead of holding a slot for ever.
        let timer: Timer = NO_TIMER;
        const timeoutMs = evaluator.config.timeout_ms ?? this.config.timeout_ms;
        const clock = ctx.clock ?? systemClock;
        const verdict = await Promise.race([
          Promise.resolve(evaluator.custom!.evaluate(material, { signal: ctx.signal, sample: ctx.sample })),
          new Promise<never>((_, reject) => {
            timer = clock.timeout(
              () => reject(new Error(`no verdict within ${timeoutMs} ms (${timeoutSetting(evaluator)})`)),
              timeoutMs,
              { keepAlive: true },
            );
          }),
        ]).finally(() => timer.cancel());
        if (
          typeof verdict?.value !== 'number' ||
          !Number.isFinite(verdict.value) ||
          verdict.value < 0 ||
          verdict.value > 1
        ) {
          return failed(
            `${evaluator.custom!.source}: evaluate() must return { value } between 0 and 1, got ${JSON.stringify(verdict?.value)}`,
          );
        }
        return {
          status: 'ok',
          value: verdict.value,
          criteria: verdict.criteria ?? [],
          reasoning: verdict.reasoning ?? '',
          model: null,
          promptHash: null,
        };
      } catch (error) {
        return failed(`${evaluator.custom!.source}: ${messageOf(error)}`);
      }
    }
    const modelRef = ctx.model ?? this.modelOf(evaluator);
    let resolved: ReturnType<ProviderRegistry['resolve']>;
    try {
      resolved = ctx.providers.resolve(modelRef);
    } catch (error) {
      return { ...failed(messageOf(error)), model: modelRef };
    }
    const verdict = await llmJudge(evaluator.rubric!, material, {
      provider: resolved.provider,
      modelRef,
      modelName: resolved.model.name,
      temperature: this.config.temperature,
      seed: ctx.seed + ctx.sample,
      retries: this.config.retries,
      timeoutMs: evaluator.config.timeout_ms ?? this.config.timeout_ms,
      ...(evaluator.config.timeout_ms === undefined ? {} : { timeoutSetting: timeoutSetting(evaluator) }),
      signal: ctx.signal,
      ...(ctx.clock === undefined ? {} : { clock: ctx.clock }),
    });
    return verdict;
  }
}

/** Where an evaluator's time limit is set, for the reason of a score that ran out of it. */
function timeoutSetting(evaluator: Evaluator): string {
  const own = evaluator.config.timeout_ms;
  // Its own limit: a rollout spec's eval.timeout_sec, or timeout_ms of the evaluator in p2tui.yaml.
  return own === undefined ? 'judge.timeout_ms' : `the time limit of evaluator ${evaluator.id}: ${own / 1000} s`;
}

function failed(reasoning: string): Evaluation {
  return { status: 'failed', value: null, criteria: [], reasoning, model: null, promptHash: null };
}

/** The custom evaluators of a workspace's `evaluators/` folder: every exported value defineEvaluator made. */
export function loadWorkspaceEvaluators(root: string): Promise<Map<string, CustomEvaluator>> {
  return loadWorkspaceModules(root, 'evaluators', isEvaluator, 'evaluator');
}

/** Rubrics, custom evaluators and the judge section, checked together (what a workspace load does). */
export async function loadEvaluators(
  root: string,
  config: JudgeConfig,
  defaultModel: string,
  options: { configFile?: string; personas?: Iterable<string> } = {},
): Promise<EvaluatorRegistry> {
  const rubrics = loadRubrics(root);
  const custom = await loadWorkspaceEvaluators(root);
  return new EvaluatorRegistry(config, { defaultModel, rubrics, custom, ...options });
}
