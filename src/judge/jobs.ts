import { newJobId } from '../core/ids.ts';
import type { JobTrigger, TargetKind } from '../store/scores.ts';
import type { Store } from '../store/store.ts';
import type { Evaluator } from './registry.ts';

/**
 * Queues one evaluation: the job row and an `eval.queued` event, inside the caller's write (for a trigger, the
 * commit of the step that caused it). Returns the job id.
 */
export function queueEvaluation(
  store: Store,
  job: {
    session: string;
    branch: string;
    targetKind: TargetKind;
    targetId: string;
    trigger: JobTrigger;
    evaluator: Evaluator;
    samples?: number;
    uptoSeq: number | null;
    now: number;
  },
): string {
  const id = newJobId();
  store.scores.addJob({
    id,
    session: job.session,
    branch: job.branch,
    targetKind: job.targetKind,
    targetId: job.targetId,
    evaluator: job.evaluator.id,
    trigger: job.trigger,
    uptoSeq: job.uptoSeq,
    samples: job.samples ?? job.evaluator.config.samples,
    createdAt: job.now,
  });
  store.append(
    {
      type: 'eval.queued',
      payload: {
        job: id,
        target: { kind: job.targetKind, id: job.targetId },
        evaluator: job.evaluator.id,
        trigger: job.trigger,
      },
      session: job.session,
      branch: job.branch,
      conversation: job.targetKind === 'conversation' ? job.targetId : null,
    },
    job.now,
  );
  return id;
}
