/*
 * Model-call records and call intents, with what a replay reads back of both. Long because both tables' rows, their
 * mappings and the reading back of large arguments kept as artifacts belong to the same repository.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import { artifactBytes } from './artifacts.ts';
import type { EffectClass, EntryDraft } from '../core/entries.ts';
import type { JsonValue } from '../core/json.ts';

/** What a model call rendered: every visible entry of the conversation through `through` (O(1) to store). */
export interface RenderedRef {
  readonly conversation: string;
  /** Id of the newest entry the request rendered; null for an empty stack. */
  readonly through: string | null;
  readonly entries: number;
  readonly messages: number;
  /** Messages left out to fit the model's context window (absent when everything was sent). */
  readonly omitted?: number;
}

export interface ModelCallRecord {
  readonly id: string;
  readonly session: string;
  readonly branch: string;
  readonly conversation: string;
  readonly ordinal: number;
  readonly provider: string;
  readonly model: string;
  readonly requestHash: string;
  readonly request: { params: JsonValue; rendered: RenderedRef };
  /** Large tool-call arguments are kept as a preview naming their artifact (see RecordedToolCall). */
  readonly response: JsonValue | null;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly estimated: boolean;
  readonly costUsd: number;
  readonly latencyMs: number;
  readonly status: 'ok' | 'error';
  readonly error: string | null;
  readonly ts: number;
}

export type IntentKind = 'tool' | 'agent' | 'user';
/**
 * pending: written in the decide commit, not started. running: the call started (for effectful tools this is
 * committed before the tool runs). done: the result is stored (a crash-interrupted effectful call that could not be
 * reconciled is done with a result of status `unknown`).
 */
export type IntentStatus = 'pending' | 'running' | 'done';

export interface IntentRow {
  readonly key: string;
  readonly session: string;
  readonly branch: string;
  readonly conversation: string;
  readonly callId: string;
  readonly entryId: string;
  readonly kind: IntentKind;
  readonly tool: string;
  readonly effect: EffectClass;
  readonly args: JsonValue;
  readonly status: IntentStatus;
  /** The result entry, stored when the call settles, even if earlier calls of the turn are still running. */
  readonly result: EntryDraft | null;
  readonly attempts: number;
  readonly createdAt: number;
  /** The holder that last marked it running (absent before schema 7, or when it never started). */
  readonly startedBy?: CallStarter;
  /** Large arguments: stored once, in this artifact (the row then holds only its hash; `args` is read from it). */
  readonly argsArtifact?: string;
}

/**
 * A tool call of a response as a model-call record keeps it. Large arguments: `arguments` is a preview and
 * `argumentsArtifact` the artifact holding their canonical JSON (`argumentsText`: the model's text was not JSON, and
 * the artifact holds it as a JSON string). A replay reads them back whole.
 */
export type RecordedToolCall = {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
  readonly argumentsArtifact?: string;
  readonly argumentsText?: true;
};

/** What the `args` column holds for arguments kept as an artifact: not JSON, so no arguments can look like it. */
export const ARGS_IN_ARTIFACT = '@artifact:';

/** Which process started a call, under which lease fence. */
export interface CallStarter {
  readonly host: string;
  readonly pid: number;
  readonly fence: number;
}

interface IntentDbRow {
  key: string;
  session_id: string;
  branch_id: string;
  conversation_id: string;
  call_id: string;
  entry_id: string;
  kind: string;
  tool: string;
  effect: string;
  args: string;
  status: string;
  result: string | null;
  attempts: number;
  created_at: number;
  started_host: string | null;
  started_pid: number | null;
  started_fence: number | null;
}

export interface UsageSummary {
  readonly calls: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly costUsd: number;
  readonly estimated: boolean;
}

export interface StepUsage {
  readonly conversation: string;
  readonly agent: string;
  readonly ordinal: number;
  readonly provider: string;
  readonly model: string;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly estimated: boolean;
  readonly costUsd: number;
  readonly latencyMs: number;
  readonly status: 'ok' | 'error';
  readonly ts: number;
}

/** Model-call records and call intents. */
export class CallRepository {
  private readonly insertModelCall: Statement;
  private readonly insertIntent: Statement;
  private readonly markRunningStmt: Statement;
  private readonly settleStmt: Statement;
  private readonly selectOpen: Statement;
  private readonly selectIntent: Statement;
  private readonly selectArtifact: Statement;

  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.insertModelCall = db.prepare(
      `INSERT INTO model_calls (id, session_id, branch_id, conversation_id, ordinal, provider, model, request_hash, request, response,
         tokens_in, tokens_out, estimated, cost_usd, latency_ms, status, error, ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertIntent = db.prepare(
      `INSERT INTO intents (key, session_id, branch_id, conversation_id, call_id, entry_id, kind, tool, effect, args, status, result, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.markRunningStmt = db.prepare(
      "UPDATE intents SET status = 'running', attempts = attempts + 1, started_at = ?, started_host = ?, started_pid = ?, started_fence = ? " +
        "WHERE key = ? AND status != 'done'",
    );
    this.settleStmt = db.prepare(
      "UPDATE intents SET status = 'done', result = ?, settled_at = ? WHERE key = ? AND status != 'done'",
    );
    this.selectOpen = db.prepare("SELECT * FROM intents WHERE session_id = ? AND status != 'done' ORDER BY rowid");
    this.selectIntent = db.prepare('SELECT * FROM intents WHERE key = ?');
    this.selectArtifact = db.prepare('SELECT hash, size, data FROM artifacts WHERE hash = ?');
  }

  recordModelCall(r: ModelCallRecord): void {
    this.insertModelCall.run(
      r.id,
      r.session,
      r.branch,
      r.conversation,
      r.ordinal,
      r.provider,
      r.model,
      r.requestHash,
      JSON.stringify(r.request),
      r.response === null ? null : JSON.stringify(r.response),
      r.tokensIn,
      r.tokensOut,
      r.estimated ? 1 : 0,
      r.costUsd,
      r.latencyMs,
      r.status,
      r.error,
      r.ts,
    );
  }

  modelCalls(filter: { session?: string; conversation?: string }): ModelCallRecord[] {
    const rows = (
      filter.conversation !== undefined
        ? this.db
            .prepare('SELECT * FROM model_calls WHERE conversation_id = ? ORDER BY ordinal')
            .all(filter.conversation)
        : this.db
            .prepare(
              'SELECT m.* FROM conversations c JOIN model_calls m ON m.conversation_id = c.id WHERE c.session_id = ? ORDER BY m.ts, m.rowid',
            )
            .all(filter.session ?? '')
    ) as ModelCallDbRow[];
    return rows.map(toModelCall);
  }

  /** Token and cost totals of a session, overall and per agent (joined through conversations). */
  usage(session: string): { total: UsageSummary; byAgent: Record<string, UsageSummary> } {
    const rows = this.db
      .prepare(
        `SELECT c.agent AS agent, count(*) AS calls, sum(m.tokens_in) AS tin, sum(m.tokens_out) AS tout, sum(m.cost_usd) AS cost, max(m.estimated) AS est
         FROM conversations c JOIN model_calls m ON m.conversation_id = c.id WHERE c.session_id = ? GROUP BY c.agent ORDER BY c.agent`,
      )
      .all(session) as { agent: string; calls: number; tin: number; tout: number; cost: number; est: number }[];
    const byAgent: Record<string, UsageSummary> = {};
    let total: UsageSummary = { calls: 0, tokensIn: 0, tokensOut: 0, costUsd: 0, estimated: false };
    for (const r of rows) {
      const u = { calls: r.calls, tokensIn: r.tin, tokensOut: r.tout, costUsd: r.cost, estimated: r.est === 1 };
      byAgent[r.agent] = u;
      total = {
        calls: total.calls + u.calls,
        tokensIn: total.tokensIn + u.tokensIn,
        tokensOut: total.tokensOut + u.tokensOut,
        costUsd: total.costUsd + u.costUsd,
        estimated: total.estimated || u.estimated,
      };
    }
    return { total, byAgent };
  }

  /** Whether any model call of the session was of this provider's models, replayed ones included (the "simulated" label). */
  usedProvider(session: string, provider: string): boolean {
    return (
      this.db
        .prepare(
          'SELECT 1 FROM conversations c JOIN model_calls m ON m.conversation_id = c.id WHERE c.session_id = ? AND m.model LIKE ? LIMIT 1',
        )
        .get(session, `${provider}/%`) !== undefined
    );
  }

  /** Tokens, cost and latency of every model call of a session, in order: the per-step view of usage. */
  steps(session: string): StepUsage[] {
    const rows = this.db
      .prepare(
        `SELECT m.conversation_id AS conversation, c.agent AS agent, m.ordinal AS ordinal, m.provider AS provider, m.model AS model, m.tokens_in AS tokensIn,
                m.tokens_out AS tokensOut, m.estimated AS estimated, m.cost_usd AS costUsd, m.latency_ms AS latencyMs, m.status AS status, m.ts AS ts
         FROM conversations c JOIN model_calls m ON m.conversation_id = c.id WHERE c.session_id = ? ORDER BY m.ts, m.rowid`,
      )
      .all(session) as (Omit<StepUsage, 'estimated'> & { estimated: number })[];
    return rows.map((r) => ({ ...r, estimated: r.estimated === 1 }));
  }

  /** Successful model calls per conversation of a session: each conversation's step count. */
  stepCounts(session: string): { conversation: string; calls: number }[] {
    return this.db
      .prepare(
        'SELECT m.conversation_id AS conversation, count(*) AS calls ' +
          'FROM conversations c JOIN model_calls m ON m.conversation_id = c.id ' +
          "WHERE c.session_id = ? AND m.status = 'ok' GROUP BY m.conversation_id",
      )
      .all(session) as { conversation: string; calls: number }[];
  }

  /** An artifact's bytes (joined from its pieces when it was stored in pieces). */
  private artifact(hash: string): Buffer | undefined {
    const row = this.selectArtifact.get(hash) as { hash: string; size: number; data: Buffer } | undefined;
    return row === undefined ? undefined : artifactBytes(this.db, row);
  }

  /** Arguments stored as an artifact, read back (a preview saying so if the artifact is gone). */
  private argsOf(column: string): JsonValue {
    if (!column.startsWith(ARGS_IN_ARTIFACT)) return JSON.parse(column) as JsonValue;
    const hash = column.slice(ARGS_IN_ARTIFACT.length);
    const data = this.artifact(hash);
    return data === undefined
      ? `(arguments in artifact ${hash.slice(0, 12)}, which is gone)`
      : (JSON.parse(data.toString('utf8')) as JsonValue);
  }

  addIntent(row: Omit<IntentRow, 'attempts'>): void {
    this.insertIntent.run(
      row.key,
      row.session,
      row.branch,
      row.conversation,
      row.callId,
      row.entryId,
      row.kind,
      row.tool,
      row.effect,
      row.argsArtifact === undefined ? JSON.stringify(row.args) : `${ARGS_IN_ARTIFACT}${row.argsArtifact}`,
      row.status,
      row.result === null ? null : JSON.stringify(row.result),
      row.createdAt,
    );
  }

  /** Marks a call as started by `by`; false when it was settled already (then it must not start). */
  markRunning(key: string, now: number, by: CallStarter): boolean {
    return this.markRunningStmt.run(now, by.host, by.pid, by.fence, key).changes > 0;
  }

  /** Stores a call's result. Returns false if it was already settled (a late result after a timeout, say). */
  settle(key: string, result: EntryDraft, now: number): boolean {
    return this.settleStmt.run(JSON.stringify(result), now, key).changes > 0;
  }

  intent(key: string): IntentRow | undefined {
    const row = this.selectIntent.get(key) as IntentDbRow | undefined;
    return row === undefined ? undefined : toIntent(row, this.argsOf(row.args));
  }

  /** Intents of a session without a result yet. */
  unsettled(session: string): IntentRow[] {
    return (this.selectOpen.all(session) as IntentDbRow[]).map((r) => toIntent(r, this.argsOf(r.args)));
  }

  /**
   * A recorded session's successful model calls on the given branches (its own history's), in the order they were
   * made, with their conversation's path: what a replay serves back.
   */
  recordedModelCalls(session: string, branches: readonly string[]): RecordedModelCall[] {
    const marks = branches.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT m.id AS id, c.path AS path, m.ordinal AS ordinal, m.branch_id AS branch, m.request_hash AS hash, m.model AS model,
                json_extract(m.request, '$.rendered.messages') AS messages, m.response AS response, m.tokens_in AS tin,
                m.tokens_out AS tout, m.estimated AS est
         FROM model_calls m JOIN conversations c ON c.id = m.conversation_id
         WHERE c.session_id = ? AND m.branch_id IN (${marks}) AND m.status = 'ok' ORDER BY m.rowid`,
      )
      .all(session, ...branches) as {
      id: string;
      path: string;
      ordinal: number;
      branch: string;
      hash: string;
      model: string;
      messages: number | null;
      response: string;
      tin: number;
      tout: number;
      est: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      path: r.path,
      ordinal: r.ordinal,
      branch: r.branch,
      requestHash: r.hash,
      model: r.model,
      // Read in SQL: the request's JSON is not parsed whole for one number.
      messages: r.messages ?? 0,
      response: this.wholeArguments(JSON.parse(r.response) as RecordedModelCall['response']),
      tokensIn: r.tin,
      tokensOut: r.tout,
      estimated: r.est === 1,
    }));
  }

  /** A recorded response with its large tool-call arguments read back from their artifacts. */
  private wholeArguments(response: RecordedModelCall['response']): RecordedModelCall['response'] {
    if (!response.toolCalls.some((c) => c.argumentsArtifact !== undefined)) return response;
    const toolCalls = response.toolCalls.map(({ id, name, arguments: preview, argumentsArtifact, argumentsText }) => {
      if (argumentsArtifact === undefined) return { id, name, arguments: preview };
      const data = this.artifact(argumentsArtifact);
      if (data === undefined) return { id, name, arguments: preview };
      const text = data.toString('utf8');
      return { id, name, arguments: argumentsText === true ? (JSON.parse(text) as string) : text };
    });
    return { ...response, toolCalls };
  }

  /** A recorded session's settled tool calls and answered questions on the given branches, with their path. */
  /**
   * The settled results of one tool's calls made on one branch in the conversation at `path`, oldest first (a fork
   * looks for what an ancestor's same call returned: `ToolContext.prior`).
   */
  resultsOnBranch(session: string, branch: string, path: string, tool: string): RecordedResult[] {
    const rows = this.db
      .prepare(
        `SELECT c.path AS path, i.entry_id AS entry, i.call_id AS call, i.tool AS tool, i.args AS args, i.result AS result
         FROM intents i JOIN conversations c ON c.id = i.conversation_id
         WHERE c.session_id = ? AND i.branch_id = ? AND c.path = ? AND i.tool = ? AND i.kind = 'tool'
           AND i.result IS NOT NULL
         ORDER BY i.rowid`,
      )
      .all(session, branch, path, tool) as RecordedRow[];
    return rows.map((r) => this.recorded(r));
  }

  /** A recorded call's row as the engine reads it (its arguments and result parsed). */
  private recorded(r: RecordedRow): RecordedResult {
    const { path, tool } = r;
    return {
      path,
      entryId: r.entry,
      callId: r.call,
      tool,
      args: this.argsOf(r.args),
      result: JSON.parse(r.result) as EntryDraft,
    };
  }

  recordedResults(session: string, branches: readonly string[]): RecordedResult[] {
    const marks = branches.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT c.path AS path, i.entry_id AS entry, i.call_id AS call, i.tool AS tool, i.args AS args, i.result AS result
         FROM intents i JOIN conversations c ON c.id = i.conversation_id
         WHERE c.session_id = ? AND i.branch_id IN (${marks}) AND i.kind IN ('tool', 'user') AND i.result IS NOT NULL
         ORDER BY i.rowid`,
      )
      .all(session, ...branches) as RecordedRow[];
    return rows.map((r) => this.recorded(r));
  }
}

interface ModelCallDbRow {
  id: string;
  session_id: string;
  branch_id: string;
  conversation_id: string;
  ordinal: number;
  provider: string;
  model: string;
  request_hash: string;
  request: string;
  response: string | null;
  tokens_in: number;
  tokens_out: number;
  estimated: number;
  cost_usd: number;
  latency_ms: number;
  status: string;
  error: string | null;
  ts: number;
}

function toModelCall(r: ModelCallDbRow): ModelCallRecord {
  return {
    id: r.id,
    session: r.session_id,
    branch: r.branch_id,
    conversation: r.conversation_id,
    ordinal: r.ordinal,
    provider: r.provider,
    model: r.model,
    requestHash: r.request_hash,
    request: JSON.parse(r.request) as ModelCallRecord['request'],
    response: r.response === null ? null : (JSON.parse(r.response) as JsonValue),
    tokensIn: r.tokens_in,
    tokensOut: r.tokens_out,
    estimated: r.estimated === 1,
    costUsd: r.cost_usd,
    latencyMs: r.latency_ms,
    status: r.status as 'ok' | 'error',
    error: r.error,
    ts: r.ts,
  };
}

/** A model call as a replay reads it back. */
export interface RecordedModelCall {
  readonly id: string;
  /** The conversation's path (agent/child#n…), stable across sessions of the same workspace. */
  readonly path: string;
  readonly ordinal: number;
  /** The branch it was made on. */
  readonly branch: string;
  readonly requestHash: string;
  readonly model: string;
  /** Messages the request rendered (0 for recordings older than the count). */
  readonly messages: number;
  readonly response: {
    text: string;
    toolCalls: RecordedToolCall[];
    finishReason: 'stop' | 'tool_calls' | 'length';
  };
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly estimated: boolean;
}

/** A call's result as a replay reads it back. */
export interface RecordedResult {
  readonly path: string;
  readonly entryId: string;
  readonly callId: string;
  readonly tool: string;
  readonly args: JsonValue;
  readonly result: EntryDraft;
}

function toIntent(r: IntentDbRow, args: JsonValue): IntentRow {
  return {
    key: r.key,
    session: r.session_id,
    branch: r.branch_id,
    conversation: r.conversation_id,
    callId: r.call_id,
    entryId: r.entry_id,
    kind: r.kind as IntentKind,
    tool: r.tool,
    effect: r.effect as EffectClass,
    args,
    ...(r.args.startsWith(ARGS_IN_ARTIFACT) ? { argsArtifact: r.args.slice(ARGS_IN_ARTIFACT.length) } : {}),
    status: r.status as IntentStatus,
    result: r.result === null ? null : (JSON.parse(r.result) as EntryDraft),
    attempts: r.attempts,
    createdAt: r.created_at,
    ...(r.started_host === null || r.started_pid === null
      ? {}
      : { startedBy: { host: r.started_host, pid: r.started_pid, fence: r.started_fence ?? 0 } }),
  };
}

/** A row of the recorded-results queries. */
interface RecordedRow {
  path: string;
  entry: string;
  call: string;
  tool: string;
  args: string;
  result: string;
}
