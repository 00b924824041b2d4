import type { EffectsPolicy } from './events.ts';

/**
 * The ledger scope a dry-run branch pays in: its own parties (`agent-<scope>.<agent>`), seeded with the real
 * balances, never the real scope's. Joined with `-`, not `.`: a `.` would make the scratch parties look like agents
 * of the session's own scope (a rollout cell's), and the workspace's wallets list leaves dotted names out.
 */
export function scratchScope(ledgerScope: string | undefined, branch: string): string {
  return `${ledgerScope === undefined ? '' : `${ledgerScope}-`}dry-${branch}`;
}

/**
 * Whether a branch is a dry run: its own `effects`, else the session's (the rule of engine/effects-policy.ts, for
 * the layers below the engine that settle a branch's escrows).
 */
export function isDryRun(
  sessionEffects: EffectsPolicy | undefined,
  branchOverrides: Readonly<Record<string, unknown>>,
): boolean {
  const own = branchOverrides['effects'];
  return (typeof own === 'string' ? own : (sessionEffects ?? 'live')) === 'dry-run';
}
