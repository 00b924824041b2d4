import type { CriterionResult } from '../store/scores.ts';
import type { Material } from './material.ts';

export const EVALUATOR_BRAND = Symbol.for('p2tui.evaluator');

/** What a custom evaluator returns: a value in [0, 1], why, and optionally a breakdown. */
export interface CustomVerdict {
  readonly value: number;
  readonly reasoning?: string;
  readonly criteria?: readonly CriterionResult[];
}

export interface EvaluatorDefinition {
  /** The id `kind: custom` evaluators name in p2tui.yaml (`evaluator: <id>`). */
  readonly id: string;
  readonly description?: string;
  /** Recorded with every score; bump it when the logic changes so old and new scores are told apart. */
  readonly version?: string;
  evaluate(
    material: Material,
    ctx: { readonly signal: AbortSignal; readonly sample: number },
  ): CustomVerdict | Promise<CustomVerdict>;
}

export interface CustomEvaluator extends EvaluatorDefinition {
  readonly [EVALUATOR_BRAND]: true;
  /** The file it was loaded from, relative to the working directory. */
  source: string;
}

/** Defines an evaluator in a workspace's `evaluators/` folder (export it; `kind: custom` evaluators use it). */
export function defineEvaluator(definition: EvaluatorDefinition): CustomEvaluator {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(definition.id))
    throw new TypeError(`evaluator id '${definition.id}': use letters, digits, _ and -, starting with a letter`);
  return { ...definition, [EVALUATOR_BRAND]: true, source: '' };
}

export function isEvaluator(value: unknown): value is CustomEvaluator {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[EVALUATOR_BRAND] === true;
}
