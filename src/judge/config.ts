import { z } from 'zod';
import { assertionSchema } from './assertions.ts';
import { rubricBodySchema } from './rubric.ts';

const id = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -, starting with a letter');
const modelRef = z.string().regex(/^[^/\s]+\/\S+$/, 'provider/name, e.g. openai/gpt-4o-mini');

/** One evaluator of `judge.evaluators` in p2tui.yaml. */
export const evaluatorConfigSchema = z
  .strictObject({
    id,
    /** llm: a rubric scored by a judge model; assert: deterministic checks; custom: a defineEvaluator of evaluators/. */
    kind: z.enum(['llm', 'assert', 'custom']),
    /** llm: a rubric of rubrics/ by id, or one written here. */
    rubric: z.union([id, rubricBodySchema]).optional(),
    /** llm: the judge model (default: judge.model, else the workspace's model). */
    model: modelRef.optional(),
    assert: z.array(assertionSchema).min(1).optional(),
    /** custom: the id given to defineEvaluator. */
    evaluator: id.optional(),
    /**
     * When it runs: a conversation finishes (default), an artifact is created, a tool marks a milestone (the step is
     * judged), or only on demand (`eval run`).
     */
    on: z.enum(['finished', 'artifact', 'milestone', 'demand']).default('finished'),
    /** on: milestone — only milestones of this name (a tool's ctx.milestone(name); default: every one). */
    milestone: z.string().min(1).optional(),
    /** on: artifact — only artifacts of this kind (e.g. file, output). */
    artifact_kind: z.string().min(1).optional(),
    /**
     * on: finished or demand — which conversations: the session's root (default), or each of these agents' (`'*'`:
     * every one), in every path alike (src/judge/scope.ts); each must be a persona of the workspace.
     */
    agents: z.array(z.string().min(1)).min(1).optional(),
    /** Runs of the judge per target (mean and spread are reported). */
    samples: z.int().min(1).max(20).default(1),
    /** Weight of this metric in a branch's weighted overall score. */
    weight: z.number().min(0).max(100).default(1),
    /** How long one judge call of this evaluator may take (default: judge.timeout_ms); longer fails that score. */
    timeout_ms: z.int().min(100).max(3_600_000).optional(),
    /** A version label of your own (P2Engine's `judge_version`), recorded with every score in its evaluator version. */
    judge_version: z.string().min(1).max(64).optional(),
  })
  .superRefine((e, ctx) => {
    const need = (field: 'rubric' | 'assert' | 'evaluator'): void => {
      if (e[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `an evaluator of kind ${e.kind} needs '${field}'` });
    };
    if (e.kind === 'llm') need('rubric');
    if (e.kind === 'assert') need('assert');
    if (e.kind === 'custom') need('evaluator');
    if (e.artifact_kind !== undefined && e.on !== 'artifact')
      ctx.addIssue({ code: 'custom', path: ['artifact_kind'], message: 'artifact_kind applies to on: artifact' });
    if (e.milestone !== undefined && e.on !== 'milestone')
      ctx.addIssue({ code: 'custom', path: ['milestone'], message: 'milestone applies to on: milestone' });
  });

export type EvaluatorConfig = z.output<typeof evaluatorConfigSchema>;

/** The `judge:` section of p2tui.yaml. */
export const judgeConfigSchema = z
  .strictObject({
    /** Judge model for llm evaluators that name none (default: the workspace's model; scripted: the scripted judge). */
    model: modelRef.optional(),
    /** Evaluations running at once in one process (they never hold a step up). */
    concurrency: z.int().min(1).max(1_000).default(4),
    /** Invalid judge replies asked again before the score is recorded as a judge failure. */
    retries: z.int().min(0).max(10).default(2),
    timeout_ms: z.int().min(100).max(600_000).default(60_000),
    temperature: z.number().min(0).max(2).default(0),
    evaluators: z.array(evaluatorConfigSchema).default([]),
  })
  .superRefine((j, ctx) => {
    const seen = new Set<string>();
    j.evaluators.forEach((e, i) => {
      if (seen.has(e.id))
        ctx.addIssue({
          code: 'custom',
          path: ['evaluators', i, 'id'],
          message: `evaluator '${e.id}' is defined twice`,
        });
      seen.add(e.id);
    });
  });

export type JudgeConfig = z.output<typeof judgeConfigSchema>;
