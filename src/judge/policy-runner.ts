import type { Clock } from '../core/clock.ts';
import type { StoredEvent } from '../core/events.ts';
import { messageOf } from '../core/errors.ts';
import type { ScoreEvent, ScorePolicy } from './policy.ts';
import type { Engine } from '../engine/engine.ts';
import { branchEntries, resolveBranch } from '../engine/branching.ts';

/**
 * Runs the workspace's score policies (the adaptation hook): on each automatic `score.recorded` event committed here
 * for the checked-out branch of a session this process drives, every policy whose `when` matches may act, for
 * example retry the branch from a fork point with other settings. One session's scores are handled one after the
 * other; what a policy did is logged as `policy.acted`.
 */
export class ScorePolicyRunner {
  private readonly engine: Engine;
  private readonly policies: readonly ScorePolicy[];
  private readonly chains = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;

  private readonly clock: Clock;

  constructor(engine: Engine, policies: readonly ScorePolicy[], clock: Clock = engine.clock) {
    this.engine = engine;
    this.clock = clock;
    this.policies = policies;
  }

  start(): void {
    if (this.policies.length === 0 || this.unsubscribe !== undefined) return;
    this.unsubscribe = this.engine.store.onCommit((events) => {
      for (const e of events) if (e.type === 'score.recorded' && e.session !== null) this.enqueue(e);
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** Resolves when the policies have handled every score of the session recorded so far. */
  settled(session: string): Promise<void> {
    return this.chains.get(session) ?? Promise.resolve();
  }

  private enqueue(event: Extract<StoredEvent, { type: 'score.recorded' }>): void {
    const session = event.session!;
    const next = (this.chains.get(session) ?? Promise.resolve()).then(() => this.handle(event));
    this.chains.set(session, next);
  }

  private async handle(event: Extract<StoredEvent, { type: 'score.recorded' }>): Promise<void> {
    const { store } = this.engine;
    if (store.isClosed) return;
    const p = event.payload;
    const row = store.sessions.get(event.session!);
    // Only automatic verdicts on the branch this process drives now: an on-demand `eval run` (a CI gate, say) and
    // scores of a branch the user has left never move the session. Nor do a `session replay`'s: it makes the recorded
    // session's forks itself, a policy's among them, where they were made.
    if (
      row === undefined ||
      row.options.replay?.staged === true ||
      p.trigger === 'demand' ||
      this.engine.get(row.id) === undefined ||
      (event.branch ?? row.headBranch) !== row.headBranch
    )
      return;
    const score: ScoreEvent = {
      session: row.id,
      branch: event.branch ?? row.headBranch,
      target: p.target,
      root: p.target.kind === 'branch' || (p.target.kind === 'conversation' && p.target.id === row.rootConversation),
      evaluator: p.evaluator,
      value: p.value,
      status: p.status,
      model: p.model,
    };
    for (const policy of this.policies) {
      const log = (action: 'retry' | 'note' | 'error', text: string, branch?: string): void => {
        if (store.isClosed) return;
        store.write(() =>
          store.append(
            {
              type: 'policy.acted',
              payload: { policy: policy.id, score: p.score, action, text, ...(branch === undefined ? {} : { branch }) },
              session: row.id,
              branch: score.branch,
              conversation: null,
            },
            this.clock.now(),
          ),
        );
      };
      try {
        if (!policy.when(score)) continue;
        const createdBy = `policy:${policy.id}`;
        await policy.act(score, {
          attempts: store.sessions.branches(row.id).filter((b) => b.createdBy === createdBy).length,
          retry: async (options = {}) => {
            const value = score.value === null ? 'failed' : score.value.toFixed(2);
            const retried = await this.retry(score, event, createdBy, options);
            if ('movedOn' in retried) {
              log('note', `${score.evaluator} ${value}: not retried: ${retried.movedOn}`);
              return retried.branch;
            }
            const { branch } = retried;
            const temperature = options.temperature === undefined ? '' : ` at temperature ${options.temperature}`;
            const model = options.model === undefined ? '' : ` with ${options.model}`;
            log('retry', `${score.evaluator} ${value}: retried on branch ${branch}${temperature}${model}`, branch);
            return branch;
          },
          note: (text) => log('note', text),
        });
      } catch (error) {
        log('error', `${policy.source || policy.id}: ${messageOf(error)}`);
      }
    }
  }

  /**
   * Forks the scored branch at the user message the scored answer replied to (or `atSeq`) with other settings,
   * checks it out and runs it on. A person's message sent after the scored answer is never cut off: the branch is
   * then left as it is (`movedOn` says why) and the message is answered there, since the person wrote it after
   * reading that answer and a retry would answer a question they have moved past.
   */
  private async retry(
    score: ScoreEvent,
    event: Extract<StoredEvent, { type: 'score.recorded' }>,
    createdBy: string,
    options: { atSeq?: number; temperature?: number; model?: string; label?: string },
  ): Promise<{ readonly branch: string } | { readonly branch: string; readonly movedOn: string }> {
    const { store } = this.engine;
    const session = store.sessions.require(score.session);
    const source = resolveBranch(store, session, score.branch);
    // The branch as it was judged: the commit that queued the judge's job (or, without one, the score itself).
    const jobId = event.payload.job;
    const job = jobId === null ? undefined : store.scores.jobs({ session: session.id }).find((j) => j.id === jobId);
    const scoredAt = job?.uptoSeq ?? event.seq;
    const messages = branchEntries(store, session.id, source.id).filter(
      (e) => e.kind === 'user_message' && e.conversation === session.rootConversation,
    );
    const newer = messages.find((e) => e.seq > scoredAt);
    const live = this.engine.get(session.id);
    if (newer !== undefined || live?.sending === true) {
      const which =
        newer === undefined ? 'a message from the person is being sent' : `the person wrote again (seq ${newer.seq})`;
      return { branch: source.id, movedOn: `${which} after the scored answer; it is answered on branch ${source.id}` };
    }
    const atSeq = options.atSeq ?? messages.findLast((e) => e.seq <= scoredAt)?.seq;
    if (atSeq === undefined) throw new Error(`branch ${source.id} has no user message to retry from`);
    const fork = await this.engine.fork(session.id, {
      from: source.id,
      atSeq,
      // A policy's code names its retries, often the same name each time: numbered when taken, never refused.
      defaultLabel: options.label ?? `retry of ${source.label ?? source.id}`,
      createdBy,
      checkout: true,
      overrides: {
        ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
        ...(options.model === undefined ? {} : { model: options.model }),
      },
    });
    const runtime = this.engine.get(session.id) ?? (await this.engine.attach(session.id));
    runtime.resume();
    return { branch: fork.branch.id };
  }
}
