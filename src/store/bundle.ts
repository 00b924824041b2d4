import { z } from 'zod';
import { UserError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';

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

const text = z.string();
const int = z.number().int();
const maybeText = z.string().nullable();
const maybeInt = z.number().int().nullable();

/** The columns of each table a bundle carries, as stored (snake_case), with their SQLite types. */
export const BUNDLE_ROWS = {
  events: z.strictObject({
    seq: int,
    id: text,
    ts: int,
    v: int,
    type: text,
    kind: maybeText,
    session_id: maybeText,
    branch_id: maybeText,
    conversation_id: maybeText,
    payload: text,
  }),
  sessions: z.strictObject({
    id: text,
    created_at: int,
    updated_at: int,
    agent: text,
    root_conversation: text,
    head_branch: text,
    title: text,
    source: text,
    status: text,
    status_reason: maybeText,
    options: text,
    workspace: text,
  }),
  branches: z.strictObject({
    id: text,
    session_id: text,
    parent_id: maybeText,
    fork_seq: maybeInt,
    label: maybeText,
    overrides: text,
    created_by: text,
    created_at: int,
    // Absent from bundles of databases older than schema version 2.
    segments: maybeText.optional(),
  }),
  branch_segments: z.strictObject({ branch_id: text, ancestor_id: text, max_seq: int }),
  conversations: z.strictObject({
    id: text,
    session_id: text,
    branch_id: text,
    agent: text,
    parent_id: maybeText,
    parent_call_id: maybeText,
    depth: int,
    path: text,
    created_at: int,
  }),
  heads: z.strictObject({
    branch_id: text,
    conversation_id: text,
    session_id: text,
    head_seq: int,
    phase: text,
    updated_at: int,
  }),
  model_calls: z.strictObject({
    id: text,
    session_id: text,
    branch_id: text,
    conversation_id: text,
    ordinal: int,
    provider: text,
    model: text,
    request_hash: text,
    request: text,
    response: maybeText,
    tokens_in: int,
    tokens_out: int,
    estimated: int,
    cost_usd: z.number(),
    latency_ms: int,
    status: text,
    error: maybeText,
    ts: int,
  }),
  intents: z.strictObject({
    key: text,
    session_id: text,
    branch_id: text,
    conversation_id: text,
    call_id: text,
    entry_id: text,
    kind: text,
    tool: text,
    effect: text,
    args: text,
    status: text,
    result: maybeText,
    attempts: int,
    created_at: int,
    started_at: maybeInt,
    settled_at: maybeInt,
    // Who started the call (schema 7); absent in bundles of older versions.
    started_host: maybeText.optional(),
    started_pid: maybeInt.optional(),
    started_fence: maybeInt.optional(),
  }),
  /** `data` is the bytes in base64. */
  artifacts: z.strictObject({ hash: text, size: int, mime: text, data: text, created_at: int }),
  artifact_refs: z.strictObject({
    id: text,
    hash: text,
    session_id: maybeText,
    branch_id: maybeText,
    conversation_id: maybeText,
    entry_id: maybeText,
    kind: text,
    name: text,
    meta: text,
    created_at: int,
  }),
  eval_jobs: z.strictObject({
    id: text,
    session_id: text,
    branch_id: text,
    target_kind: text,
    target_id: text,
    evaluator: text,
    trigger: text,
    upto_seq: maybeInt,
    samples: int,
    status: text,
    attempts: int,
    claimed_by: maybeText,
    claim_expires: maybeInt,
    error: maybeText,
    created_at: int,
    finished_at: maybeInt,
  }),
  scores: z.strictObject({
    id: text,
    job_id: maybeText,
    session_id: text,
    branch_id: text,
    target_kind: text,
    target_id: text,
    evaluator: text,
    evaluator_kind: text,
    evaluator_version: text,
    metric: text,
    value: z.number().nullable(),
    status: text,
    reasoning: text,
    criteria: text,
    model: maybeText,
    prompt_hash: maybeText,
    sample: int,
    created_at: int,
  }),
} as const;

export type BundleTable = keyof typeof BUNDLE_ROWS;
export type BundleRow<T extends BundleTable> = z.output<(typeof BUNDLE_ROWS)[T]>;

export const sessionBundleSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  version: z.number().int().min(1).max(BUNDLE_VERSION),
  exportedAt: text,
  appVersion: text,
  session: BUNDLE_ROWS.sessions,
  branches: z.array(BUNDLE_ROWS.branches),
  segments: z.array(BUNDLE_ROWS.branch_segments),
  conversations: z.array(BUNDLE_ROWS.conversations),
  heads: z.array(BUNDLE_ROWS.heads),
  events: z.array(BUNDLE_ROWS.events),
  modelCalls: z.array(BUNDLE_ROWS.model_calls),
  intents: z.array(BUNDLE_ROWS.intents),
  artifacts: z.array(BUNDLE_ROWS.artifacts),
  artifactRefs: z.array(BUNDLE_ROWS.artifact_refs),
  /** The judge's jobs and scores of the session (absent in bundles written before they were included). */
  evalJobs: z.array(BUNDLE_ROWS.eval_jobs).optional(),
  scores: z.array(BUNDLE_ROWS.scores).optional(),
  /** The MCP tool listings the session started with, so it replays offline (absent in older bundles). */
  mcpListings: z.array(z.strictObject({ server: text, tools: z.json() })).optional(),
});

export type SessionBundle = z.output<typeof sessionBundleSchema>;

/**
 * Checks a bundle (parsed JSON from `file`, or a worker's result) before anything is written: the format, a version
 * this code reads, every row against its table's columns, and that every row belongs to the bundle's session.
 */
export function parseBundle(value: unknown, file: string): SessionBundle {
  const head = value as { format?: unknown; version?: unknown } | null;
  if (head === null || typeof head !== 'object' || head.format !== BUNDLE_FORMAT) {
    throw new UserError('E_USAGE', `${file} is not a p2tui session bundle`, {
      hint: 'Make one with: p2tui session export <id> --out <file>',
    });
  }
  if (typeof head.version === 'number' && head.version > BUNDLE_VERSION) {
    throw new UserError(
      'E_DB_NEWER_SCHEMA',
      `${file} is bundle version ${head.version}; this p2tui reads up to version ${BUNDLE_VERSION}`,
      { hint: 'Upgrade p2tui to import it.' },
    );
  }
  const parsed = sessionBundleSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(bundle)'}: ${i.message}`);
    const more = parsed.error.issues.length > 3 ? ` (and ${parsed.error.issues.length - 3} more)` : '';
    throw new UserError('E_USAGE', `${file} is not a valid session bundle: ${issues.join('; ')}${more}`, {
      hint: 'Export it again with p2tui session export; a bundle edited by hand is refused.',
    });
  }
  const bundle = parsed.data;
  const session = bundle.session.id;
  const foreign = [
    ...bundle.branches,
    ...bundle.conversations,
    ...bundle.heads,
    ...bundle.events,
    ...bundle.modelCalls,
    ...bundle.intents,
    ...bundle.artifactRefs,
    ...(bundle.evalJobs ?? []),
    ...(bundle.scores ?? []),
  ].find((row) => row.session_id !== session);
  if (foreign !== undefined) {
    throw new UserError(
      'E_USAGE',
      `${file} holds a row of session ${String(foreign.session_id)} in the bundle of session ${session}`,
      { hint: 'A bundle carries one session; export it again.' },
    );
  }
  // Content-addressed: bytes that do not hash to their name would overwrite nothing (INSERT OR IGNORE) but could
  // poison a database that does not have them yet.
  const forged = bundle.artifacts.find((a) => sha256(Buffer.from(a.data, 'base64')) !== a.hash);
  if (forged !== undefined) {
    throw new UserError('E_USAGE', `${file}: artifact ${forged.hash} does not hold the bytes its hash names`, {
      hint: 'Export it again; a bundle edited by hand is refused.',
    });
  }
  return bundle;
}
