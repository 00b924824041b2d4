import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

/** What a score judges. */
export type TargetKind = 'conversation' | 'branch' | 'step' | 'artifact';
/** Why a job exists: a conversation finished, an artifact or milestone appeared, or someone asked (`eval run`). */
export type JobTrigger = 'conversation.finished' | 'artifact.created' | 'milestone' | 'demand';
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

export interface EvalJobRow {
  readonly id: string;
  readonly session: string;
  readonly branch: string;
  readonly targetKind: TargetKind;
  readonly targetId: string;
  readonly evaluator: string;
  readonly trigger: JobTrigger;
  /** Judge the branch as it was at this seq (the commit that triggered the job); null: as it is when judged. */
  readonly uptoSeq: number | null;
  readonly samples: number;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly claimedBy: string | null;
  readonly claimExpires: number | null;
  readonly error: string | null;
  readonly createdAt: number;
  readonly finishedAt: number | null;
}

/** One criterion of a rubric, or one assertion, as judged. */
export interface CriterionResult {
  readonly id: string;
  readonly weight?: number;
  /** In [0, 1]; null when it could not be judged. */
  readonly score: number | null;
  readonly reason: string;
}

export interface ScoreRow {
  readonly id: string;
  readonly job: string | null;
  readonly session: string;
  readonly branch: string;
  readonly targetKind: TargetKind;
  readonly targetId: string;
  readonly evaluator: string;
  readonly evaluatorKind: string;
  readonly evaluatorVersion: string;
  readonly metric: string;
  /** In [0, 1]; null for a judge failure (never recorded as a zero). */
  readonly value: number | null;
  readonly status: 'ok' | 'failed';
  readonly reasoning: string;
  readonly criteria: readonly CriterionResult[];
  /** `provider/name` of the judge model, `scripted/judge` for the offline judge, null for assertions and code. */
  readonly model: string | null;
  readonly promptHash: string | null;
  readonly sample: number;
  readonly createdAt: number;
}

interface JobDbRow {
  id: string;
  session_id: string;
  branch_id: string;
  target_kind: string;
  target_id: string;
  evaluator: string;
  trigger: string;
  upto_seq: number | null;
  samples: number;
  status: string;
  attempts: number;
  claimed_by: string | null;
  claim_expires: number | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

interface ScoreDbRow {
  id: string;
  job_id: string | null;
  session_id: string;
  branch_id: string;
  target_kind: string;
  target_id: string;
  evaluator: string;
  evaluator_kind: string;
  evaluator_version: string;
  metric: string;
  value: number | null;
  status: string;
  reasoning: string;
  criteria: string;
  model: string | null;
  prompt_hash: string | null;
  sample: number;
  created_at: number;
}

/** Which jobs a judge looks at: of one session, and only of the evaluators it has (undefined: any). */
export interface JobFilter {
  readonly session?: string;
  readonly evaluators?: readonly string[];
}

/**
 * Jobs of the evaluators a judge has (`@evaluators`, a JSON array; NULL for any): a process without a job's
 * evaluator (a rollout spec's own, say, known only to the process running that rollout) leaves the job to one that
 * has it, instead of claiming it and failing it.
 */
const KNOWN = '(@evaluators IS NULL OR evaluator IN (SELECT value FROM json_each(@evaluators)))';

function evaluatorsParam(filter: Pick<JobFilter, 'evaluators'>): string | null {
  return filter.evaluators === undefined ? null : JSON.stringify(filter.evaluators);
}

/**
 * Evaluation jobs and scores. Jobs are durable: a step's commit writes the jobs it triggers, a judge claims them
 * with a lease (a judge that dies leaves them to be claimed again once the lease expires), and a score row records
 * what was judged, by which evaluator version, model and prompt.
 */
export class ScoreRepository {
  private readonly insertJob: Statement;
  private readonly claimStmt: Statement;
  private readonly claimSessionStmt: Statement;
  private readonly claimJobStmt: Statement;
  private readonly reclaimStmt: Statement;
  private readonly releaseStmt: Statement;
  private readonly finishStmt: Statement;
  private readonly insertScore: Statement;
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.insertJob = db.prepare(
      `INSERT INTO eval_jobs (id, session_id, branch_id, target_kind, target_id, evaluator, trigger, upto_seq, samples, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    );
    // Pending jobs, oldest first, straight off the (status, created_at) index.
    this.claimStmt = db.prepare(
      `UPDATE eval_jobs SET status = 'running', attempts = attempts + 1, claimed_by = @owner, claim_expires = @expires
       WHERE id IN (SELECT id FROM eval_jobs WHERE status = 'pending' AND ${KNOWN} ORDER BY created_at LIMIT @limit) RETURNING *`,
    );
    this.claimSessionStmt = db.prepare(
      `UPDATE eval_jobs SET status = 'running', attempts = attempts + 1, claimed_by = @owner, claim_expires = @expires
       WHERE id IN (SELECT id FROM eval_jobs WHERE status = 'pending' AND session_id = @session AND ${KNOWN}
         ORDER BY created_at LIMIT @limit) RETURNING *`,
    );
    this.claimJobStmt = db.prepare(
      `UPDATE eval_jobs SET status = 'running', attempts = attempts + 1, claimed_by = @owner, claim_expires = @expires
       WHERE id = @id AND status = 'pending' RETURNING *`,
    );
    this.releaseStmt = db.prepare(
      "UPDATE eval_jobs SET status = 'pending', claimed_by = NULL, claim_expires = NULL WHERE status = 'running' AND claimed_by = ?",
    );
    this.reclaimStmt = db.prepare(
      "UPDATE eval_jobs SET status = 'pending', claimed_by = NULL, claim_expires = NULL WHERE status = 'running' AND claim_expires < ?",
    );
    this.finishStmt = db.prepare(
      "UPDATE eval_jobs SET status = ?, error = ?, finished_at = ?, claim_expires = NULL WHERE id = ? AND claimed_by = ? AND status = 'running'",
    );
    this.insertScore = db.prepare(
      `INSERT INTO scores (id, job_id, session_id, branch_id, target_kind, target_id, evaluator, evaluator_kind, evaluator_version, metric,
         value, status, reasoning, criteria, model, prompt_hash, sample, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /** Inside a write (the commit of the step that triggers it). */
  addJob(
    job: Pick<
      EvalJobRow,
      | 'id'
      | 'session'
      | 'branch'
      | 'targetKind'
      | 'targetId'
      | 'evaluator'
      | 'trigger'
      | 'uptoSeq'
      | 'samples'
      | 'createdAt'
    >,
  ): void {
    this.insertJob.run(
      job.id,
      job.session,
      job.branch,
      job.targetKind,
      job.targetId,
      job.evaluator,
      job.trigger,
      job.uptoSeq,
      job.samples,
      job.createdAt,
    );
  }

  /** Gives back the jobs an owner holds (a judge stopping), so the next one takes them at once. Inside a write. */
  release(owner: string): number {
    return this.releaseStmt.run(owner).changes;
  }

  /** Scores of these jobs, in the order they were written. */
  scoresOfJobs(jobs: readonly string[]): ScoreRow[] {
    if (jobs.length === 0) return [];
    const out: ScoreRow[] = [];
    // SQLite's parameter limit: a few hundred at a time.
    for (let i = 0; i < jobs.length; i += 500) {
      const part = jobs.slice(i, i + 500);
      out.push(
        ...(
          this.db
            .prepare(
              `SELECT * FROM scores WHERE job_id IN (${part.map(() => '?').join(',')}) ORDER BY created_at, rowid`,
            )
            .all(...part) as ScoreDbRow[]
        ).map(toScore),
      );
    }
    return out;
  }

  /** Puts jobs whose judge's lease ran out (it died, or stalled) back to pending. Inside a write. */
  reclaimExpired(now: number): number {
    return this.reclaimStmt.run(now).changes;
  }

  /** Takes up to `limit` pending jobs, oldest first. Inside a write. */
  claim(owner: string, now: number, leaseMs: number, limit: number, filter: JobFilter = {}): EvalJobRow[] {
    const { session } = filter;
    const params = {
      owner,
      now,
      expires: now + leaseMs,
      limit,
      evaluators: evaluatorsParam(filter),
      ...(session === undefined ? {} : { session }),
    };
    const rows = (session === undefined ? this.claimStmt : this.claimSessionStmt).all(params) as JobDbRow[];
    return rows.map(toJob).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Takes one pending job by its id (one this process just queued); undefined when it is not pending. Inside a write. */
  claimJob(id: string, owner: string, now: number, leaseMs: number): EvalJobRow | undefined {
    const row = this.claimJobStmt.get({ id, owner, expires: now + leaseMs }) as JobDbRow | undefined;
    return row === undefined ? undefined : toJob(row);
  }

  /** Closes a job this owner holds; false when its lease was lost to another judge meanwhile. Inside a write. */
  finish(id: string, owner: string, status: 'done' | 'failed', error: string | null, now: number): boolean {
    return this.finishStmt.run(status, error, now, id, owner).changes === 1;
  }

  addScore(score: ScoreRow): void {
    this.insertScore.run(
      score.id,
      score.job,
      score.session,
      score.branch,
      score.targetKind,
      score.targetId,
      score.evaluator,
      score.evaluatorKind,
      score.evaluatorVersion,
      score.metric,
      score.value,
      score.status,
      score.reasoning,
      JSON.stringify(score.criteria),
      score.model,
      score.promptHash,
      score.sample,
      score.createdAt,
    );
  }

  jobs(filter: { session?: string; status?: JobStatus } = {}): EvalJobRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.session !== undefined) {
      where.push('session_id = ?');
      params.push(filter.session);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    const sql = `SELECT * FROM eval_jobs ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY created_at, rowid`;
    return (this.db.prepare(sql).all(...params) as JobDbRow[]).map(toJob);
  }

  /** Jobs not finished yet (pending or running), optionally of one session. */
  openJobs(session?: string, filter: Pick<JobFilter, 'evaluators'> = {}): number {
    const evaluators = evaluatorsParam(filter);
    const row = (
      session === undefined
        ? this.db
            .prepare(`SELECT count(*) AS n FROM eval_jobs WHERE status IN ('pending', 'running') AND ${KNOWN}`)
            .get({ evaluators })
        : this.db
            .prepare(
              `SELECT count(*) AS n FROM eval_jobs WHERE session_id = @session AND status IN ('pending', 'running') AND ${KNOWN}`,
            )
            .get({ session, evaluators })
    ) as { n: number };
    return row.n;
  }

  scores(
    filter: { session?: string; branch?: string; evaluator?: string; metric?: string; job?: string } = {},
  ): ScoreRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
    };
    add('session_id', filter.session);
    add('branch_id', filter.branch);
    add('evaluator', filter.evaluator);
    add('metric', filter.metric);
    add('job_id', filter.job);
    const sql = `SELECT * FROM scores ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY created_at, rowid`;
    return (this.db.prepare(sql).all(...params) as ScoreDbRow[]).map(toScore);
  }
}

function toJob(r: JobDbRow): EvalJobRow {
  return {
    id: r.id,
    session: r.session_id,
    branch: r.branch_id,
    targetKind: r.target_kind as TargetKind,
    targetId: r.target_id,
    evaluator: r.evaluator,
    trigger: r.trigger as JobTrigger,
    uptoSeq: r.upto_seq,
    samples: r.samples,
    status: r.status as JobStatus,
    attempts: r.attempts,
    claimedBy: r.claimed_by,
    claimExpires: r.claim_expires,
    error: r.error,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

function toScore(r: ScoreDbRow): ScoreRow {
  return {
    id: r.id,
    job: r.job_id,
    session: r.session_id,
    branch: r.branch_id,
    targetKind: r.target_kind as TargetKind,
    targetId: r.target_id,
    evaluator: r.evaluator,
    evaluatorKind: r.evaluator_kind,
    evaluatorVersion: r.evaluator_version,
    metric: r.metric,
    value: r.value,
    status: r.status === 'failed' ? 'failed' : 'ok',
    reasoning: r.reasoning,
    criteria: JSON.parse(r.criteria) as CriterionResult[],
    model: r.model,
    promptHash: r.prompt_hash,
    sample: r.sample,
    createdAt: r.created_at,
  };
}
