import { UserError } from '../../core/errors.ts';
import type { RolloutSpec } from '../spec.ts';

/**
 * Refuses a spec whose cells cannot run on a queue's workers, which have their own databases: `fork_from` cells are
 * branches of a session in this one, and a shared ledger would be paid from in several places.
 */
export function assertQueueable(spec: RolloutSpec): void {
  if (spec.raw.fork_from !== undefined)
    throw new UserError(
      'E_USAGE',
      'a rollout with fork_from cannot run on a queue (its cells are branches of a session in this database)',
      { hint: 'Run it without --queue.' },
    );
  if (spec.raw.ledger.shared_ledger)
    throw new UserError(
      'E_USAGE',
      'a rollout with shared_ledger: true cannot run on a queue (its cells would pay from one ledger in several places)',
      { hint: 'Run it without --queue.' },
    );
}
