import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import type { JsonValue } from '../core/json.ts';

/** `interrupted`: stopped by Ctrl-C or SIGTERM (resumable); `stopped`: by a spent total budget. */
export type RolloutStatus = 'running' | 'finished' | 'stopped' | 'interrupted';
export type CellStatus = 'pending' | 'running' | 'done' | 'failed';

export interface RolloutRow {
  readonly id: string;
  readonly name: string;
  readonly file: string;
  readonly spec: JsonValue;
  readonly specHash: string;
  readonly status: RolloutStatus;
  readonly createdAt: number;
  readonly finishedAt: number | null;
  readonly options: {
    readonly replayOf?: string;
    readonly queue?: string;
    readonly fork?: { readonly session: string; readonly branch: string; readonly seq: number };
    /** `rollout run --model`: every agent of every cell runs on this model, whatever the spec or personas say. */
    readonly model?: string;
    /** `--judge-model` (or the scripted judge of a `--model scripted/…` run): the judge of every cell. */
    readonly judgeModel?: string;
  };
}

/** What a finished cell measured. */
export interface CellMetrics {
  /** Mean score per metric (evaluator id, or the team's eval metric); null: the judge failed. */
  readonly scores: Readonly<Record<string, number | null>>;
  readonly steps: number;
  readonly tokens: number;
  readonly costUsd: number;
  readonly latencyMs: number;
  readonly delegations: number;
  readonly transfers: number;
  /** Per agent: received minus paid in this cell (decimal text). */
  readonly netFlow: Readonly<Record<string, string>>;
  readonly balances: Readonly<Record<string, string>>;
  readonly status: string;
  readonly answer: string;
  /** The branch the cell ran on (a `fork_from` cell is a branch of its source session). */
  readonly branch?: string;
}

export interface CellRow {
  readonly rollout: string;
  readonly id: string;
  readonly ordinal: number;
  readonly team: string;
  readonly variant: string;
  readonly scenario: string;
  readonly repeat: number;
  readonly seed: number;
  readonly status: CellStatus;
  readonly session: string | null;
  readonly error: string | null;
  readonly metrics: CellMetrics | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

interface RolloutRecord {
  id: string;
  name: string;
  file: string;
  spec: string;
  spec_hash: string;
  status: RolloutStatus;
  created_at: number;
  finished_at: number | null;
  options: string;
}

interface CellRecord {
  rollout_id: string;
  cell_id: string;
  ordinal: number;
  team: string;
  variant: string;
  scenario: string;
  repeat: number;
  seed: number;
  status: CellStatus;
  session_id: string | null;
  error: string | null;
  metrics: string | null;
  started_at: number | null;
  finished_at: number | null;
}

/** Rollouts and their cells: what ran, where each cell stands, what it measured. */
export class RolloutRepository {
  private readonly insertRollout: Statement;
  private readonly insertCell: Statement;
  private readonly selectRollout: Statement;
  private readonly selectCells: Statement;
  private readonly selectCell: Statement;
  private readonly markCell: Statement;
  private readonly markQueued: Statement;
  private readonly finishCell: Statement;
  private readonly setStatus: Statement;
  private readonly listAll: Statement;
  private readonly prefix: Statement;
  private readonly cellBySession: Statement;

  constructor(db: Db) {
    this.insertRollout = db.prepare(
      'INSERT INTO rollouts (id, name, file, spec, spec_hash, status, created_at, finished_at, options) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)',
    );
    this.insertCell = db.prepare(
      'INSERT OR IGNORE INTO rollout_cells ' +
        '(rollout_id, cell_id, ordinal, team, variant, scenario, repeat, seed, status) ' +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
    );
    this.selectRollout = db.prepare('SELECT * FROM rollouts WHERE id = ?');
    this.selectCells = db.prepare('SELECT * FROM rollout_cells WHERE rollout_id = ? ORDER BY ordinal');
    this.selectCell = db.prepare('SELECT * FROM rollout_cells WHERE rollout_id = ? AND cell_id = ?');
    this.markQueued = db.prepare(
      "UPDATE rollout_cells SET status = 'running', started_at = ?, error = NULL WHERE rollout_id = ? AND cell_id = ? AND status <> 'done'",
    );
    this.markCell = db.prepare(
      "UPDATE rollout_cells SET status = 'running', session_id = ?, started_at = ?, error = NULL WHERE rollout_id = ? AND cell_id = ?",
    );
    this.finishCell = db.prepare(
      'UPDATE rollout_cells SET status = ?, error = ?, metrics = ?, finished_at = ?, session_id = coalesce(?, session_id) WHERE rollout_id = ? AND cell_id = ?',
    );
    this.setStatus = db.prepare('UPDATE rollouts SET status = ?, finished_at = ? WHERE id = ?');
    this.listAll = db.prepare('SELECT * FROM rollouts ORDER BY created_at DESC, rowid DESC LIMIT ?');
    this.cellBySession = db.prepare(
      'SELECT * FROM rollout_cells WHERE session_id = ? ORDER BY started_at DESC, ordinal DESC LIMIT 1',
    );
    this.prefix = db.prepare("SELECT id FROM rollouts WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 3");
  }

  create(
    row: Omit<RolloutRow, 'finishedAt'>,
    cells: readonly Omit<
      CellRow,
      'rollout' | 'status' | 'session' | 'error' | 'metrics' | 'startedAt' | 'finishedAt'
    >[],
  ): void {
    this.insertRollout.run(
      row.id,
      row.name,
      row.file,
      JSON.stringify(row.spec),
      row.specHash,
      row.status,
      row.createdAt,
      JSON.stringify(row.options),
    );
    for (const c of cells)
      this.insertCell.run(row.id, c.id, c.ordinal, c.team, c.variant, c.scenario, c.repeat, c.seed);
  }

  addCell(
    rollout: string,
    c: Omit<CellRow, 'rollout' | 'status' | 'session' | 'error' | 'metrics' | 'startedAt' | 'finishedAt'>,
  ): void {
    this.insertCell.run(rollout, c.id, c.ordinal, c.team, c.variant, c.scenario, c.repeat, c.seed);
  }

  /** A cell handed to a worker: running, its session not known here yet. */
  queued(rollout: string, cell: string, now: number): void {
    this.markQueued.run(now, rollout, cell);
  }

  get(id: string): RolloutRow | undefined {
    const r = this.selectRollout.get(id) as RolloutRecord | undefined;
    return r === undefined ? undefined : toRollout(r);
  }

  /** Ids starting with `prefix`, newest first (at most 3: enough to tell a unique prefix from an ambiguous one). */
  matching(prefix: string): string[] {
    return (this.prefix.all(`${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as { id: string }[]).map((r) => r.id);
  }

  list(limit = 100): RolloutRow[] {
    return (this.listAll.all(limit) as RolloutRecord[]).map(toRollout);
  }

  cells(rollout: string): CellRow[] {
    return (this.selectCells.all(rollout) as CellRecord[]).map(toCell);
  }

  cell(rollout: string, cell: string): CellRow | undefined {
    const r = this.selectCell.get(rollout, cell) as CellRecord | undefined;
    return r === undefined ? undefined : toCell(r);
  }

  /** The cell a session ran (its newest, for a fork_from source session several cells share); live export links it. */
  cellOfSession(session: string): CellRow | undefined {
    const r = this.cellBySession.get(session) as CellRecord | undefined;
    return r === undefined ? undefined : toCell(r);
  }

  started(rollout: string, cell: string, session: string, now: number): void {
    this.markCell.run(session, now, rollout, cell);
  }

  finished(
    rollout: string,
    cell: string,
    outcome: { status: 'done' | 'failed' | 'pending'; error?: string; metrics?: CellMetrics; session?: string },
    now: number,
  ): void {
    this.finishCell.run(
      outcome.status,
      outcome.error ?? null,
      outcome.metrics === undefined ? null : JSON.stringify(outcome.metrics),
      outcome.status === 'pending' ? null : now,
      outcome.session ?? null,
      rollout,
      cell,
    );
  }

  setRolloutStatus(id: string, status: RolloutStatus, now: number | null): void {
    this.setStatus.run(status, now, id);
  }
}

function toRollout(r: RolloutRecord): RolloutRow {
  return {
    id: r.id,
    name: r.name,
    file: r.file,
    spec: JSON.parse(r.spec) as JsonValue,
    specHash: r.spec_hash,
    status: r.status,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    options: JSON.parse(r.options) as RolloutRow['options'],
  };
}

function toCell(r: CellRecord): CellRow {
  return {
    rollout: r.rollout_id,
    id: r.cell_id,
    ordinal: r.ordinal,
    team: r.team,
    variant: r.variant,
    scenario: r.scenario,
    repeat: r.repeat,
    seed: r.seed,
    status: r.status,
    session: r.session_id,
    error: r.error,
    metrics: r.metrics === null ? null : (JSON.parse(r.metrics) as CellMetrics),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
