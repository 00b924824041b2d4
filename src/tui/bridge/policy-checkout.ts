import type { StoredEvent } from '../../core/events.ts';
import type { Store } from '../../store/store.ts';

/**
 * Whether a checkout seen while the session is watched was a score policy's: a policy's retry forks and checks out in
 * one write, so the branch was made by `policy:<id>` at the checkout's very time. A later checkout of that branch (by
 * a user, here or in another terminal) is not the policy's doing. Returns the policy's id.
 */
export function checkoutByPolicy(store: Store, checkout: { branch: string; ts: number }): string | undefined {
  const branch = store.sessions.branch(checkout.branch);
  if (branch === undefined || !branch.createdBy.startsWith('policy:') || branch.createdAt !== checkout.ts)
    return undefined;
  return branch.createdBy.slice('policy:'.length);
}

/**
 * What to say once the policy has logged what it did (its `policy.acted` names the new branch and the score it acted
 * on): "the score policy <name> checked out branch <b> (score <evaluator> <value> on <branch>)".
 */
export function policyCheckoutNotice(store: Store, event: StoredEvent, branch: string): string | undefined {
  if (event.type !== 'policy.acted' || event.payload.action !== 'retry' || event.payload.branch !== branch)
    return undefined;
  const score =
    event.session === null
      ? undefined
      : store.scores.scores({ session: event.session }).find((s) => s.id === event.payload.score);
  const value =
    score === undefined
      ? ''
      : ` (score ${score.evaluator} ${score.value === null ? 'failed' : score.value.toFixed(2)} on ${score.branch})`;
  return `the score policy ${event.payload.policy} checked out branch ${branch}${value}; b lists branches`;
}
