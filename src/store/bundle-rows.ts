import { z } from 'zod';

/**
 * A session as one self-contained JSON bundle: its rows from every table (events of every branch, branches and
 * their segments, conversations, heads, model-call recordings, intents, artifacts with their bytes), so another
 * database can load it and replay it with no network. Seqs are renumbered on import (they are positions in one
 * database's log); everything that refers to a seq is mapped.
 *
 * A bundle comes from outside (a file, a worker through a queue): it is parsed here, row by row, against the
 * columns of each table. Only these columns are ever written; a key the schema does not know is refused, never
 * turned into SQL.
 */
export const BUNDLE_FORMAT = 'p2tui-session-bundle';
/** Version 1 since the first export; a reader refuses a newer one rather than misread it. */
export const BUNDLE_VERSION = 1;
/** Words the CLI reads as something other than a session id. */
export const RESERVED_SESSION_IDS: readonly string[] = ['last', '@last'];
/** A text column: bounded so one hostile row cannot ask for unbounded memory. */
export const MAX_TEXT = 256 * 1024 * 1024;

/** Ids the CLI names a session by: a letter first (not an option, not a number), and not a word the CLI reserves. */
const sessionId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, 'a session id is a letter, then letters, digits, _ or - (at most 100)')
  .refine(
    (v) => !RESERVED_SESSION_IDS.includes(v.toLowerCase()),
    'is a word the CLI reserves (p2tui session show last)',
  );
/** Ids of every other row: what p2tui makes (s_, b_, c_, e_, m_, …), bounded. */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/, 'an id: letters, digits, _ . : - (at most 200)');
const id = idSchema;
const maybeId = id.nullable();
/** Short names (agents, tools, kinds, statuses, models): no control characters. */
const name = z
  .string()
  .min(1)
  .max(200)
  // Control characters would reach the terminal in `session show` and `session list`.
  .refine(
    (v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
    'a name without control characters',
  );
const maybeName = name.nullable();
const text = z.string().max(MAX_TEXT);
const maybeText = text.nullable();
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hash (64 hex digits)');
const int = z.number().int().min(0);
const maybeInt = int.nullable();
const status = z.enum(['running', 'paused', 'waiting', 'finished', 'failed', 'cancelled']);

/** The columns of each table a bundle carries, as stored (snake_case), with their SQLite types. */
export const BUNDLE_ROWS = {
  events: z.strictObject({
    seq: int,
    id,
    ts: int,
    v: int,
    type: name,
    kind: maybeName,
    session_id: sessionId,
    branch_id: maybeId,
    conversation_id: maybeId,
    payload: text,
  }),
  sessions: z.strictObject({
    id: sessionId,
    created_at: int,
    updated_at: int,
    agent: name,
    root_conversation: id,
    head_branch: id,
    title: text,
    source: name,
    status,
    status_reason: maybeText,
    options: text,
    workspace: text,
  }),
  branches: z.strictObject({
    id,
    session_id: sessionId,
    parent_id: maybeId,
    fork_seq: maybeInt,
    label: maybeText,
    overrides: text,
    created_by: name,
    created_at: int,
    // Absent from bundles of databases older than schema version 2.
    segments: maybeText.optional(),
  }),
  branch_segments: z.strictObject({ branch_id: id, ancestor_id: id, max_seq: int }),
  conversations: z.strictObject({
    id,
    session_id: sessionId,
    branch_id: id,
    agent: name,
    parent_id: maybeId,
    parent_call_id: maybeName,
    depth: int,
    path: text,
    created_at: int,
  }),
  heads: z.strictObject({
    branch_id: id,
    conversation_id: id,
    session_id: sessionId,
    head_seq: int,
    phase: name,
    updated_at: int,
  }),
  model_calls: z.strictObject({
    id,
    session_id: sessionId,
    branch_id: id,
    conversation_id: id,
    ordinal: int,
    provider: name,
    model: name,
    request_hash: name,
    request: text,
    response: maybeText,
    tokens_in: int,
    tokens_out: int,
    estimated: int,
    cost_usd: z.number().min(0),
    latency_ms: int,
    status: name,
    error: maybeText,
    ts: int,
  }),
  intents: z.strictObject({
    key: id,
    session_id: sessionId,
    branch_id: id,
    conversation_id: id,
    call_id: name,
    entry_id: id,
    kind: name,
    tool: name,
    effect: name,
    args: text,
    status: name,
    result: maybeText,
    attempts: int,
    created_at: int,
    started_at: maybeInt,
    settled_at: maybeInt,
    // Who started the call (schema 7); absent in bundles of older versions.
    started_host: maybeName.optional(),
    started_pid: maybeInt.optional(),
    started_fence: maybeInt.optional(),
  }),
  /** `data` is the bytes in base64. */
  artifacts: z.strictObject({ hash, size: int, mime: name, data: z.string(), created_at: int }),
  artifact_refs: z.strictObject({
    id,
    hash,
    session_id: sessionId,
    branch_id: maybeId,
    conversation_id: maybeId,
    entry_id: maybeId,
    kind: name,
    name,
    meta: text,
    created_at: int,
  }),
  eval_jobs: z.strictObject({
    id,
    session_id: sessionId,
    branch_id: id,
    target_kind: name,
    target_id: name,
    evaluator: name,
    trigger: name,
    upto_seq: maybeInt,
    samples: int,
    status: name,
    attempts: int,
    claimed_by: maybeName,
    claim_expires: maybeInt,
    error: maybeText,
    created_at: int,
    finished_at: maybeInt,
  }),
  scores: z.strictObject({
    id,
    job_id: maybeId,
    session_id: sessionId,
    branch_id: id,
    target_kind: name,
    target_id: name,
    evaluator: name,
    evaluator_kind: name,
    evaluator_version: name,
    metric: name,
    value: z.number().nullable(),
    status: name,
    reasoning: text,
    criteria: text,
    model: maybeName,
    prompt_hash: maybeName,
    sample: int,
    created_at: int,
  }),
  mcp_listings: z.strictObject({ server: name, tools: z.json() }),
} as const;

export type BundleTable = keyof typeof BUNDLE_ROWS;
export type BundleRow<T extends BundleTable> = z.output<(typeof BUNDLE_ROWS)[T]>;

/**
 * The bundle's arrays, in the order the exporter writes them and the importer requires (a row may refer only to
 * rows of its own or an earlier array, so the importer checks each row as it arrives and holds no file in memory).
 */
export const BUNDLE_SECTIONS = {
  branches: 'branches',
  segments: 'branch_segments',
  conversations: 'conversations',
  heads: 'heads',
  events: 'events',
  modelCalls: 'model_calls',
  intents: 'intents',
  artifacts: 'artifacts',
  artifactRefs: 'artifact_refs',
  evalJobs: 'eval_jobs',
  scores: 'scores',
  mcpListings: 'mcp_listings',
} as const satisfies Record<string, BundleTable>;

export type BundleSection = keyof typeof BUNDLE_SECTIONS;
/** Arrays a version-1 bundle may lack (written before they were exported). */
export const OPTIONAL_SECTIONS: readonly BundleSection[] = ['evalJobs', 'scores', 'mcpListings'];
/** Scalars before the session row. */
export const BUNDLE_HEAD = ['format', 'version', 'exportedAt', 'appVersion'] as const;

export interface SessionBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: number;
  readonly exportedAt: string;
  readonly appVersion: string;
  readonly session: BundleRow<'sessions'>;
  readonly branches: BundleRow<'branches'>[];
  readonly segments: BundleRow<'branch_segments'>[];
  readonly conversations: BundleRow<'conversations'>[];
  readonly heads: BundleRow<'heads'>[];
  readonly events: BundleRow<'events'>[];
  readonly modelCalls: BundleRow<'model_calls'>[];
  readonly intents: BundleRow<'intents'>[];
  readonly artifacts: BundleRow<'artifacts'>[];
  readonly artifactRefs: BundleRow<'artifact_refs'>[];
  /** The judge's jobs and scores of the session (absent in bundles written before they were included). */
  readonly evalJobs?: BundleRow<'eval_jobs'>[];
  readonly scores?: BundleRow<'scores'>[];
  /** The MCP tool listings the session started with, so it replays offline (absent in older bundles). */
  readonly mcpListings?: BundleRow<'mcp_listings'>[];
}

/**
 * What reads a bundle is told, in the file's order: the head's scalars, the session row, then each array and its
 * rows; an artifact's bytes are handed over decoded, piece by piece, so a file reader never holds them whole.
 */
export interface BundleSink {
  key(key: string, kind: string): void;
  head(key: (typeof BUNDLE_HEAD)[number], value: unknown): void;
  session(value: unknown): void;
  row(section: BundleSection, index: number, value: unknown): void;
  /** Where an artifact's bytes go, piece by piece as they are decoded (`row`: its columns read before `data`). */
  artifactData(index: number, row: Record<string, unknown>): (piece: Buffer) => void;
  /** The artifact's columns once its row is read; `given`: whether its bytes (valid base64) went to artifactData. */
  artifact(index: number, row: Record<string, unknown>, given: boolean): void;
  end(): void;
}

export function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** Decodes base64 only if it is exactly base64 (Buffer.from skips what it does not understand). */
export function strictBase64(data: unknown): Buffer | undefined {
  if (typeof data !== 'string' || data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return undefined;
  return Buffer.from(data, 'base64');
}
