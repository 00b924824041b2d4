import type { EffectsPolicy, SessionOptions } from '../core/events.ts';

export type { EffectsPolicy };

/**
 * What effectful tool calls do on a branch (p2tui.yaml's `effects:`, `--effects` on fork and rewind, a rollout
 * spec's `effects:`). `live` runs them (the default, as every run did before); `dry-run` runs pure and idempotent
 * tools but not effectful ones (their `simulate`, or a `skipped` result with E_DRY_RUN; ledger tools pay in a
 * scratch scope); `ask` waits for a person's approval before every effectful call.
 */
export const EFFECTS_POLICIES: readonly EffectsPolicy[] = ['live', 'dry-run', 'ask'];

export function isEffectsPolicy(value: unknown): value is EffectsPolicy {
  return typeof value === 'string' && (EFFECTS_POLICIES as readonly string[]).includes(value);
}

/**
 * The policy steps on a branch run under: the branch's own (set when it was forked), else the session's (from
 * p2tui.yaml or the rollout spec when it started), else `live`. A branch forked without `--effects` inherits nothing
 * from its source branch but the session's policy: each fork says what it wants.
 */
export function effectsPolicyOf(
  options: Pick<SessionOptions, 'effects'>,
  branchOverrides: Readonly<Record<string, unknown>> | undefined,
): EffectsPolicy {
  const own = branchOverrides?.['effects'];
  if (isEffectsPolicy(own)) return own;
  return options.effects ?? 'live';
}
