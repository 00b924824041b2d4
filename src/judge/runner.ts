import { messageOf } from '../core/errors.ts';
import { newScoreId } from '../core/ids.ts';
import type { Clock, Timer } from '../core/clock.ts';
import type { ProviderRegistry } from '../models/registry.ts';
import type { EvalJobRow, ScoreRow } from '../store/scores.ts';
import type { Store } from '../store/store.ts';
import { materialFor } from './material.ts';
import type { Evaluation, EvaluatorRegistry } from './registry.ts';
import { replayedVerdict } from './replayed.ts';

export interface JudgeRunnerOptions {
  /** Who claims jobs (host, pid and a random part): leases name it. */
  readonly owner: string;
  readonly clock: Clock;
  /** Evaluations at once (default: judge.concurrency of p2tui.yaml). */
  readonly concurrency?: number;
  /** How long a claim holds before another judge may take the job again (a judge that died). */
  readonly leaseMs?: number;
  /** How often to look for jobs other processes wrote or left behind. */
  readonly pollMs?: number;
}

/**
 * Runs evaluation jobs beside the agents, never in their way: jobs are rows the steps' commits wrote; this claims
 * them with a lease, evaluates with its own concurrency, and writes each score (and a `score.recorded` event) when
 * the verdict is in. A process that exits leaves its unclaimed or half-done jobs to the next one.
 */
export class JudgeRunner {
  private readonly store: Store;
  private readonly evaluators: EvaluatorRegistry;
  private readonly providers: ProviderRegistry;
  private readonly owner: string;
  private readonly clock: Clock;
  private readonly concurrency: number;
  /** A lease fixed by the caller (tests); otherwise computed at each claim (see lease()). */
  private readonly leaseMs: number | undefined;
  private readonly pollMs: number;
  private readonly abort = new AbortController();
  private running = 0;
  /** Slots taken by `judgeNow` claims whose group commit has not landed yet. */
  private reserved = 0;
  private pumping = false;
  private pumpScheduled = false;
  private readonly runningJobs = new Set<string>();
  private started = false;
  private stopped = false;
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private settledWaiters: (() => void)[] = [];
  /** `judgeNow` calls waiting for a free slot, first come first served; each returns false if it waits no more. */
  private readonly slotWaiters: (() => boolean)[] = [];

  constructor(store: Store, evaluators: EvaluatorRegistry, providers: ProviderRegistry, options: JudgeRunnerOptions) {
    this.store = store;
    this.evaluators = evaluators;
    this.providers = providers;
    this.owner = options.owner;
    this.clock = options.clock;
    this.concurrency = options.concurrency ?? evaluators.config.concurrency;
    this.leaseMs = options.leaseMs;
    this.pollMs = options.pollMs ?? 2_000;
  }

  /**
   * Long enough for the slowest job: every sample, each with its retries, at the longest timeout of any evaluator
   * (a rollout spec's `eval.timeout_sec` included, registered after this runner was made). A lease that ran out lets
   * another judge in.
   */
  private lease(): number {
    if (this.leaseMs !== undefined) return this.leaseMs;
    const config = this.evaluators.config;
    const all = this.evaluators.list().map((e) => e.config);
    const maxSamples = Math.max(1, ...all.map((e) => e.samples));
    const timeoutMs = Math.max(config.timeout_ms, ...all.map((e) => e.timeout_ms ?? 0));
    return Math.max(120_000, timeoutMs * (config.retries + 2) * maxSamples);
  }

  /** Starts following the log: new jobs are claimed as their commits land, and others' leftovers every few seconds. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.unsubscribe = this.store.onCommit((events) => {
      if (events.some((e) => e.type === 'eval.queued')) setImmediate(() => this.pump());
    });
    this.timer = this.clock.interval(() => this.reclaim(), this.pollMs);
    setImmediate(() => this.pump());
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort(new Error('the judge stopped'));
    // Jobs this process holds go back at once, rather than waiting out their lease.
    if (!this.store.isClosed) {
      try {
        this.store.write(() => this.store.scores.release(this.owner));
      } catch {
        // Locked: the leases run out instead.
      }
    }
    this.timer?.cancel();
    this.unsubscribe?.();
    this.wakeSettled();
    for (const next of this.slotWaiters.splice(0)) next();
  }

  /** Evaluations in progress in this process. */
  get busy(): number {
    return this.running;
  }

  /**
   * Runs open jobs (of one session, or all) until none is left: used by `eval run`, and by `run` before it exits.
   * Jobs another process holds are waited for, or taken over once its lease runs out.
   */
  async drain(session?: string, signal?: AbortSignal): Promise<void> {
    let lastReclaim = 0;
    for (;;) {
      if (this.stopped || signal?.aborted === true) return;
      if (this.clock.now() - lastReclaim >= 1_000) {
        lastReclaim = this.clock.now();
        this.reclaim(false);
      }
      this.pump(session);
      // Only jobs this process could run: one of an evaluator it does not have waits for a process that has it.
      if (this.running === 0 && this.store.scores.openJobs(session, { evaluators: this.known() }) === 0) return;
      await new Promise<void>((resolve) => {
        // Held open: while another process holds the jobs nothing else may keep this one alive, and an unref'd timer
        // let Node end a `run` in the middle of this wait (without its scores or its exit code, its lease left behind).
        const timer = this.clock.timeout(resolve, 100, { keepAlive: true });
        this.settledWaiters.push(() => {
          timer.cancel();
          resolve();
        });
      });
    }
  }

  /** Jobs a dead judge held go back to pending (then, with `pump`, are claimed here). */
  private reclaim(pump = true): void {
    if (this.stopped || this.store.isClosed) return;
    try {
      this.store.write(() => this.store.scores.reclaimExpired(this.clock.now()));
    } catch {
      // Busy: the next poll tries again.
    }
    if (pump) this.pump();
  }

  /** Claims as many jobs as there are free slots and starts them. */
  pump(session?: string): void {
    if (this.stopped || this.pumping || this.store.isClosed) return;
    this.pumping = true;
    try {
      const free = this.concurrency - this.running - this.reserved;
      if (free <= 0) return;
      const now = this.clock.now();
      const filter = { evaluators: this.known(), ...(session === undefined ? {} : { session }) };
      const jobs = this.store.write(() => this.store.scores.claim(this.owner, now, this.lease(), free, filter));
      for (const job of jobs) {
        // Taken again after its lease ran out while this process still runs it: one run is enough.
        if (this.runningJobs.has(job.id)) continue;
        void this.track(job, () => this.schedulePump(session));
      }
    } catch {
      // A locked database (another process writing): the next commit or poll tries again.
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Queues jobs (`queue` writes them and returns their ids) and judges them here: a rollout cell judging what it
   * just ran. Each is claimed in a group commit as soon as one of this judge's slots is free (those free at once in
   * the commit that queues them), so no claim transaction, poll or count of its own is needed; resolves with the
   * scores they recorded, in the order written, and the ids of jobs another judge took first (or left pending when
   * this one stopped): wait for those with `drain`. On `signal`, resolves at once (claimed jobs still finish).
   */
  async judgeNow(
    queue: () => readonly string[],
    signal?: AbortSignal,
  ): Promise<{ scores: ScoreRow[]; pending: string[] }> {
    const scores: ScoreRow[] = [];
    const pending: string[] = [];
    const runs: Promise<void>[] = [];
    let waiting: readonly string[] | undefined;
    // The pump refills a freed slot only for a judge that follows the log (started): otherwise it would claim jobs
    // of other sessions.
    const refill = (): void => (this.started ? this.schedulePump() : undefined);
    const lease = this.lease();
    while (waiting === undefined || waiting.length > 0) {
      if (waiting !== undefined && (this.stopped || signal?.aborted === true)) {
        pending.push(...waiting);
        break;
      }
      if (waiting !== undefined && this.concurrency - this.running - this.reserved <= 0) {
        // Every slot busy: the next verdict to finish frees one (for the first in line: no herd of retries).
        await this.slot(signal);
        continue;
      }
      let reserved = 0;
      const ids = waiting;
      try {
        const claimed = await this.store.commit(() => {
          const all = ids ?? queue();
          const now = this.clock.now();
          const taken: EvalJobRow[] = [];
          const left: string[] = [];
          for (const id of all) {
            if (this.stopped || this.concurrency - this.running - this.reserved <= 0) left.push(id);
            else {
              const job = this.store.scores.claimJob(id, this.owner, now, lease);
              // Not pending any more: another judge (the pump) has it.
              if (job === undefined) pending.push(id);
              else {
                taken.push(job);
                reserved += 1;
                this.reserved += 1;
              }
            }
          }
          return { taken, left };
        });
        for (const job of claimed.taken) runs.push(this.track(job, refill, scores));
        waiting = claimed.left;
      } finally {
        this.reserved -= reserved;
      }
    }
    const all = Promise.all(runs).then(() => ({ scores, pending }));
    if (signal === undefined) return all;
    return new Promise((resolve, reject) => {
      const stop = (): void => resolve({ scores, pending });
      if (signal.aborted) return stop();
      signal.addEventListener('abort', stop, { once: true });
      all.then(
        (value) => {
          signal.removeEventListener('abort', stop);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', stop);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /**
   * Resolves when a slot is freed for this caller (first in line), when the judge stops, on `signal`, or after 100 ms
   * at the latest: the pump may claim the caller's jobs itself while it waits, and then no verdict of this caller's
   * would ever free a slot for it. The timer is held open: with every job claimed elsewhere, nothing else keeps the
   * process alive, and Node would end a rollout in the middle of this wait (exit 0, no summary).
   */
  private slot(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let waiting = true;
      const done = (): boolean => {
        const was = waiting;
        waiting = false;
        timer.cancel();
        // Woken by the timer or the signal: out of the line (wakeSlot has taken it out otherwise).
        const place = this.slotWaiters.indexOf(done);
        if (place >= 0) this.slotWaiters.splice(place, 1);
        signal?.removeEventListener('abort', done);
        resolve();
        return was;
      };
      const timer = this.clock.timeout(done, 100, { keepAlive: true });
      this.slotWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Gives a freed slot to the first `judgeNow` still waiting for one. */
  private wakeSlot(): void {
    for (let next = this.slotWaiters.shift(); next !== undefined; next = this.slotWaiters.shift()) if (next()) return;
  }

  /** Runs a claimed job in a slot of this judge; `then` when it ends (a pump for the freed slot). */
  private track(job: EvalJobRow, then: () => void, into?: ScoreRow[]): Promise<void> {
    this.runningJobs.add(job.id);
    this.running += 1;
    return this.run(job, into).finally(() => {
      this.runningJobs.delete(job.id);
      this.running -= 1;
      this.wakeSlot();
      this.wakeSettled();
      then();
    });
  }

  /** The evaluators this process has (p2tui.yaml's, and those of the rollout specs it runs): the jobs it may claim. */
  private known(): string[] {
    return this.evaluators.list().map((e) => e.id);
  }

  /** Evaluates a claimed job and records its scores (also pushed onto `into`, as they are written). */
  private async run(job: EvalJobRow, into?: ScoreRow[]): Promise<void> {
    try {
      const evaluator = this.evaluators.get(job.evaluator);
      if (evaluator === undefined) {
        this.finish(job, 'failed', `evaluator '${job.evaluator}' is not in this workspace's p2tui.yaml any more`);
        return;
      }
      const material = materialFor(this.store, {
        session: job.session,
        branch: job.branch,
        kind: job.targetKind,
        id: job.targetId,
        uptoSeq: job.uptoSeq,
      });
      const options = this.store.sessions.get(job.session)?.options;
      const seed = options?.seed ?? 0;
      // A replay's own jobs take the recorded verdicts; one asked for on demand (`eval run`) is judged live.
      const replay = job.trigger === 'demand' ? undefined : options?.replay;
      const verdicts: Evaluation[] = [];
      for (let sample = 0; sample < job.samples; sample++) {
        const target = { evaluator, material, sample, session: job.session };
        const verdict =
          (replay === undefined
            ? undefined
            : replayedVerdict(this.store, this.evaluators, this.providers, target, replay)) ??
          (await this.evaluators.evaluate(evaluator, material, {
            providers: this.providers,
            signal: this.abort.signal,
            sample,
            seed,
            clock: this.clock,
            ...(options?.judgeModel === undefined ? {} : { model: options.judgeModel }),
          }));
        // A custom evaluator is workspace code: what it says about the material must not carry a key either.
        verdicts.push(this.providers.redactor.json(verdict));
        if (this.stopped) return;
      }
      if (this.store.isClosed) return;
      const now = this.clock.now();
      const added: ScoreRow[] = [];
      // Group commit: verdicts finishing together share one transaction.
      await this.store.commit(() => {
        // Lost the lease meanwhile (this process stalled past it): the other judge's verdict stands.
        if (!this.store.scores.finish(job.id, this.owner, 'done', null, now)) return;
        verdicts.forEach((v, sample) => {
          const score: ScoreRow = {
            id: newScoreId(),
            job: job.id,
            session: job.session,
            branch: job.branch,
            targetKind: job.targetKind,
            targetId: job.targetId,
            evaluator: evaluator.id,
            evaluatorKind: evaluator.kind,
            evaluatorVersion: evaluator.version,
            metric: evaluator.id,
            value: v.value,
            status: v.status,
            reasoning: v.reasoning,
            criteria: v.criteria,
            model: v.model,
            promptHash: v.promptHash,
            sample,
            createdAt: now,
          };
          this.store.scores.addScore(score);
          added.push(score);
          this.store.append(
            {
              type: 'score.recorded',
              payload: {
                score: score.id,
                job: job.id,
                target: { kind: job.targetKind, id: job.targetId },
                evaluator: evaluator.id,
                metric: score.metric,
                value: score.value,
                status: score.status,
                model: score.model,
                sample,
                trigger: job.trigger,
                reasoning: score.reasoning,
                criteria: score.criteria.map((c) => ({ ...c })),
              },
              session: job.session,
              branch: job.branch,
              conversation: job.targetKind === 'conversation' ? job.targetId : null,
            },
            now,
          );
        });
      });
      // Committed: now they are the caller's to read.
      into?.push(...added);
    } catch (error) {
      if (!this.store.isClosed) this.finish(job, 'failed', messageOf(error));
    }
  }

  /** Verdicts finishing together refill their slots with one claim, not one each. */
  private schedulePump(session?: string): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump(session);
    });
  }

  private finish(job: EvalJobRow, status: 'done' | 'failed', error: string | null): void {
    try {
      this.store.write(() => this.store.scores.finish(job.id, this.owner, status, error, this.clock.now()));
    } catch {
      // The lease runs out and another judge retries the job.
    }
  }

  private wakeSettled(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const wake of waiters) wake();
  }
}
