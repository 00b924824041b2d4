import { loadWorkspaceModules } from './modules.ts';

export const POLICY_BRAND = Symbol.for('p2tui.score-policy');

/** A score as policies see it (the `score.recorded` event). */
export interface ScoreEvent {
  readonly session: string;
  readonly branch: string;
  readonly target: { readonly kind: 'conversation' | 'branch' | 'step' | 'artifact'; readonly id: string };
  /** True when the target is the session's top conversation (or the branch itself). */
  readonly root: boolean;
  readonly evaluator: string;
  readonly value: number | null;
  readonly status: 'ok' | 'failed';
  readonly model: string | null;
}

/** What a policy may do about a score. */
export interface PolicyActions {
  /** Branches this policy already made in this session (to bound retries). */
  readonly attempts: number;
  /**
   * Forks the scored branch (by default just before the scored answer: at the user message it replied to) with
   * other settings, checks the new branch out and runs it on. Returns the new branch's id. When the person has
   * written again since the scored answer, nothing is forked (a retry would cut their message off): the message is
   * answered on the scored branch, whose id is returned, and a note says so.
   */
  retry(options?: {
    readonly atSeq?: number;
    readonly temperature?: number;
    readonly model?: string;
    readonly label?: string;
  }): Promise<string>;
  /** A line in the session's log (a `policy.acted` event with this note). */
  note(text: string): void;
}

export interface ScorePolicyDefinition {
  readonly id: string;
  readonly description?: string;
  /** Whether to act on this score (cheap; called for every score). */
  when(score: ScoreEvent): boolean;
  act(score: ScoreEvent, actions: PolicyActions): void | Promise<void>;
}

export interface ScorePolicy extends ScorePolicyDefinition {
  readonly [POLICY_BRAND]: true;
  source: string;
}

/** Defines how the workspace reacts to scores (a module of `policies/`): e.g. retry a branch that scored low. */
export function defineScorePolicy(definition: ScorePolicyDefinition): ScorePolicy {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(definition.id))
    throw new TypeError(`policy id '${definition.id}': use letters, digits, _ and -, starting with a letter`);
  return { ...definition, [POLICY_BRAND]: true, source: '' };
}

export function isScorePolicy(value: unknown): value is ScorePolicy {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[POLICY_BRAND] === true;
}

export function loadScorePolicies(root: string): Promise<Map<string, ScorePolicy>> {
  return loadWorkspaceModules(root, 'policies', isScorePolicy, 'policy');
}
