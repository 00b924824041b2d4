/**
 * One error hierarchy for the whole project. Every error a user can meet carries a stable `code`, a message that
 * says what went wrong (naming the file, line or field when there is one) and a `hint` that says what to do next.
 * The CLI prints `code`, message and hint without a stack trace unless `--debug` is given.
 *
 * This module is a leaf: it imports nothing from the project, so every layer can throw these.
 */

export type ErrorCode =
  // usage and configuration (the user's to fix)
  | 'E_USAGE'
  | 'E_CONFIG'
  | 'E_PERSONA_INVALID'
  /** P2Engine's config/agents.yml: an entry p2tui cannot read or run (exit code 3). */
  | 'E_AGENTS_YML'
  | 'E_TOOL_INVALID'
  | 'E_UNKNOWN_AGENT'
  | 'E_UNKNOWN_TOOL'
  | 'E_MCP'
  | 'E_UNKNOWN_SESSION'
  | 'E_AMBIGUOUS_ID'
  | 'E_WORKSPACE'
  | 'E_NODE_VERSION'
  // store
  | 'E_DB_LOCKED'
  | 'E_DB_NEWER_SCHEMA'
  | 'E_DB_CORRUPT'
  | 'E_DB_OPEN'
  | 'E_DB_FULL'
  | 'E_DB_READONLY'
  | 'E_DB_IO'
  | 'E_LEASE_HELD'
  | 'E_LEASE_LOST'
  // session bundles (session import, a worker's result): refused input, exit code 3
  | 'E_BUNDLE_INVALID'
  | 'E_BUNDLE_CONFLICT'
  // engine
  | 'E_ILLEGAL_TRANSITION'
  | 'E_CONVERSATION_BUSY'
  | 'E_SESSION_STATE'
  | 'E_STEP_BUDGET'
  | 'E_DELEGATION_CYCLE'
  | 'E_DELEGATION_DEPTH'
  | 'E_EMPTY_RESPONSE'
  | 'E_CANCELLED'
  | 'E_TIMEOUT'
  // models
  | 'E_MODEL_TIMEOUT'
  | 'E_MODEL_PROVIDER'
  | 'E_MODEL_AUTH'
  | 'E_MODEL_RATE_LIMIT'
  | 'E_MODEL_NOT_FOUND'
  | 'E_MODEL_BAD_REQUEST'
  | 'E_MODEL_NETWORK'
  | 'E_MODEL_STREAM'
  | 'E_REPLAY_MISS'
  | 'E_UNKNOWN_PROVIDER'
  // the judge
  | 'E_RUBRIC'
  | 'E_UNKNOWN_EVALUATOR'
  | 'E_JUDGE_OUTPUT'
  | 'E_EVAL_GATE'
  // the ledger
  | 'E_LEDGER'
  | 'E_LEDGER_FUNDS'
  | 'E_LEDGER_CHAIN'
  | 'E_LEDGER_BUSY'
  // rollouts
  | 'E_ROLLOUT_SPEC'
  | 'E_UNKNOWN_ROLLOUT'
  | 'E_QUEUE'
  // files and folders named by the user (--out, init's folder, …), exit code 6
  | 'E_FILE_NOT_FOUND'
  | 'E_FILE_EXISTS'
  | 'E_FILE_TYPE'
  | 'E_FILE_ACCESS'
  | 'E_FILE_DISK_FULL'
  | 'E_FILE_IO'
  // an id named on the command line that does not exist (sessions, rollouts, evaluators above): usage, exit code 2
  | 'E_UNKNOWN_BRANCH'
  | 'E_UNKNOWN_ARTIFACT'
  | 'E_UNKNOWN_METRIC'
  // p2tui migrate p2engine: a source that is not a readable P2Engine folder, a workspace file it would overwrite (exit 3)
  | 'E_MIGRATE_SOURCE'
  | 'E_MIGRATE_CONFLICT'
  /** An OTLP collector that is down or refused the spans (`--format otlp --endpoint`): exit code 1, nothing lost. */
  | 'E_OTLP_EXPORT'
  // internal
  | 'E_INTERNAL';

export interface ErrorDetails {
  /** What the user should do next, in one sentence. */
  readonly hint?: string;
  /** The file, line and field the error is about, when there is one. */
  readonly location?: {
    readonly file?: string;
    readonly line?: number;
    readonly column?: number;
    readonly field?: string;
  };
  readonly cause?: unknown;
}

export class P2Error extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly location: ErrorDetails['location'];

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = details.hint;
    this.location = details.location;
  }
}

/** Misconfiguration, bad arguments, invalid files: fixable by the user. */
export class UserError extends P2Error {}

/** A persona, tool or workspace file that fails validation. The message names file, line and field. */
export class ValidationError extends UserError {
  readonly issues: readonly ValidationIssue[];
  constructor(code: ErrorCode, issues: readonly ValidationIssue[], hint?: string) {
    const first = issues[0];
    super(code, issues.map(formatIssue).join('\n'), {
      ...(hint === undefined ? {} : { hint }),
      ...(first?.file === undefined
        ? {}
        : {
            location: {
              file: first.file,
              ...(first.line === undefined ? {} : { line: first.line, column: first.column ?? 1 }),
              field: first.field,
            },
          }),
    });
    this.issues = issues;
  }
}

export interface ValidationIssue {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, e.g. `tools[1]` or `policies.max_steps`. */
  readonly field: string;
  readonly message: string;
}

export function formatIssue(issue: ValidationIssue): string {
  const where =
    issue.file === undefined
      ? ''
      : `${issue.file}${issue.line === undefined ? '' : `:${issue.line}:${issue.column ?? 1}`}: `;
  const field = issue.field === '' ? '' : `${issue.field}: `;
  return `${where}${field}${issue.message}`;
}

/** Store problems: locked, newer schema, corrupt. */
export class StoreError extends P2Error {}

interface ErrorWithCode {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly path?: unknown;
  readonly syscall?: unknown;
  readonly cause?: unknown;
}

/** SQLite's primary result codes that mean the database file or its disk failed (not p2tui), by error code. */
const SQLITE_FAILURES: readonly (readonly [string, ErrorCode])[] = [
  ['SQLITE_CORRUPT', 'E_DB_CORRUPT'],
  ['SQLITE_NOTADB', 'E_DB_CORRUPT'],
  ['SQLITE_FULL', 'E_DB_FULL'],
  ['SQLITE_READONLY', 'E_DB_READONLY'],
  ['SQLITE_IOERR', 'E_DB_IO'],
  ['SQLITE_CANTOPEN', 'E_DB_OPEN'],
  ['SQLITE_BUSY', 'E_DB_LOCKED'],
  ['SQLITE_LOCKED', 'E_DB_LOCKED'],
];

const DB_HINTS: Partial<Record<ErrorCode, string>> = {
  E_DB_CORRUPT:
    "The file is damaged: run p2tui doctor (it runs SQLite's integrity check), restore it from a backup, or recover " +
    'what is readable with: sqlite3 <file> .recover | sqlite3 <new file>; then point --db at the new file.',
  E_DB_FULL: 'The disk (or the file system holding the database) is full: free some space, then resume the session.',
  E_DB_READONLY:
    'The database (or its folder, which holds the -wal and -shm files) cannot be written: check its permissions, ' +
    'mount options and `lsattr` flags, or point --db at a writable copy.',
  E_DB_IO: 'The disk reported an I/O error: check the device (dmesg), then copy the database somewhere healthy.',
  E_DB_OPEN: 'Check the path and its permissions, or point --db at another file.',
  E_DB_LOCKED: 'Another p2tui (or sqlite3 shell) is holding a write transaction; wait for it, close it, or use --db.',
};

/** The SQLite result code of an error (better-sqlite3 puts it in `code`, e.g. SQLITE_CORRUPT_INDEX), looking through causes. */
function sqliteCodeOf(error: unknown): { code: string; message: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as ErrorWithCode;
    if (typeof code === 'string' && code.startsWith('SQLITE_'))
      return { code, message: typeof message === 'string' ? message : code };
    current = cause;
  }
  return undefined;
}

/**
 * The store error a failed database operation means: SQLite's CORRUPT/NOTADB, FULL, READONLY, IOERR, CANTOPEN and
 * BUSY become `E_DB_*` (exit code 5) with a hint; an `E_DB_*` error is returned as it is; anything else is not a
 * storage failure (undefined). Duck-typed on `code`, so the engine can tell a broken disk from a broken tool without
 * importing the store.
 */
export function storageFailureOf(error: unknown, path?: string): StoreError | undefined {
  if (error instanceof StoreError && error.code.startsWith('E_DB_')) return error;
  if (error instanceof P2Error && error.code.startsWith('E_DB_')) {
    return new StoreError(error.code, error.message, {
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      cause: error,
    });
  }
  const sqlite = sqliteCodeOf(error);
  if (sqlite === undefined) return undefined;
  const mapped = SQLITE_FAILURES.find(([prefix]) => sqlite.code === prefix || sqlite.code.startsWith(`${prefix}_`));
  if (mapped === undefined) return undefined;
  const code = mapped[1];
  const where = path === undefined ? 'the database' : `database ${path}`;
  const what =
    code === 'E_DB_CORRUPT'
      ? sqlite.code === 'SQLITE_NOTADB'
        ? `${where} is not a SQLite database`
        : `${where} is damaged`
      : code === 'E_DB_FULL'
        ? `${where} cannot grow: the disk is full`
        : code === 'E_DB_READONLY'
          ? `${where} is read-only`
          : code === 'E_DB_IO'
            ? `${where} could not be read or written (disk I/O error)`
            : code === 'E_DB_LOCKED'
              ? `${where} is locked by another process and stayed locked past the busy timeout`
              : `cannot open ${where}`;
  // Not a database at all (a text file given as --db) is a wrong path more often than a damaged file.
  const hint =
    sqlite.code === 'SQLITE_NOTADB'
      ? 'Point --db at a p2tui database, or move the file away to start a new one; it was not modified.'
      : DB_HINTS[code];
  return new StoreError(code, `${what} (${sqlite.code}: ${sqlite.message})`, { hint, cause: error });
}

/**
 * A storage failure that no retry or other tool call can get past (a damaged, full, read-only or failing database):
 * a session whose step meets one stops with it instead of carrying on as if the step had merely failed.
 */
export function fatalStorageFailureOf(error: unknown): StoreError | undefined {
  const failure = storageFailureOf(error);
  return failure !== undefined && ['E_DB_CORRUPT', 'E_DB_FULL', 'E_DB_READONLY', 'E_DB_IO'].includes(failure.code)
    ? failure
    : undefined;
}

/** Node's file system error codes that are about the file or the disk, not about p2tui: code, what, what to do. */
const FILE_FAILURES: Readonly<Record<string, readonly [ErrorCode, string, string]>> = {
  ENOENT: [
    'E_FILE_NOT_FOUND',
    'no such file or folder',
    'Check the path; create the folder first if it is a new file.',
  ],
  ENAMETOOLONG: ['E_FILE_NOT_FOUND', 'the name is too long', 'Use a shorter path.'],
  EEXIST: ['E_FILE_EXISTS', 'it already exists', 'Pick another path, or move the existing file away.'],
  ENOTDIR: ['E_FILE_TYPE', 'a part of the path is a file, not a folder', 'Check the path: a part of it is a file.'],
  EISDIR: ['E_FILE_TYPE', 'it is a folder, not a file', 'Name a file inside the folder instead.'],
  EACCES: [
    'E_FILE_ACCESS',
    'permission denied',
    'Check the permissions of the file and its folder, or pick another path.',
  ],
  EPERM: [
    'E_FILE_ACCESS',
    'operation not permitted',
    'Check the permissions and `lsattr` flags (immutable?) of the file and its folder.',
  ],
  EROFS: ['E_FILE_ACCESS', 'the file system is read-only', 'Pick a path on a writable file system.'],
  ENOSPC: ['E_FILE_DISK_FULL', 'no space left on the disk', 'Free some space on that disk, or pick another path.'],
  EDQUOT: ['E_FILE_DISK_FULL', 'the disk quota is exhausted', 'Free some space, or pick another path.'],
  EIO: ['E_FILE_IO', 'disk I/O error', 'Check the device (dmesg) and try again.'],
};

/**
 * The user error a failed file operation on a path the user named means (a missing folder for --out, an existing
 * file where init makes a folder, a read-only or full disk): `<what>: <why> (<errno>)`, exit code 6, with a hint.
 * Undefined when the error is not a file system one. `what` defaults to the call and path (`open /x/y`).
 */
export function fileFailureOf(error: unknown, what?: string): UserError | undefined {
  if (error instanceof UserError) return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, path, syscall } = error as ErrorWithCode;
  if (typeof code !== 'string' || typeof syscall !== 'string') return undefined;
  const known = FILE_FAILURES[code];
  if (known === undefined) return undefined;
  const subject = what ?? `cannot ${syscall}${typeof path === 'string' ? ` ${path}` : ''}`;
  return new UserError(known[0], `${subject}: ${known[1]} (${code})`, { hint: known[2], cause: error });
}

/**
 * A failure of the disk or of a file the user named (SQLite's CORRUPT, FULL, READONLY, IOERR; ENOENT, EACCES,
 * ENOSPC, … of a path) that reached the top without being given its code on the way: reported with its code and
 * hint (by the CLI and the TUI's palette alike), never as a bug in p2tui. Anything else is returned as it is.
 */
export function knownFailureOf(error: unknown, database?: string): unknown {
  if (error instanceof P2Error) return error;
  return storageFailureOf(error, database) ?? fileFailureOf(error) ?? error;
}

/** An illegal FSM transition. Always a bug in a caller, never a hang. */
export class TransitionError extends P2Error {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_ILLEGAL_TRANSITION', message, details);
  }
}

/** A model provider failed (after retries). `retryable` says whether resuming may succeed. */
export class ProviderError extends P2Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  /** How long the provider asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    opts: ErrorDetails & { retryable: boolean; status?: number; retryAfterMs?: number },
  ) {
    super(code, message, opts);
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Thrown by a tool when its call may or may not have taken effect: it was sent, and then the other side went away
 * before answering (an MCP server that exited mid-call, or was stopped for an oversized result). The engine settles
 * an effectful call that throws it as `unknown`, not `error`, so nobody takes it for a call that did not happen.
 */
export class OutcomeUnknownError extends Error {
  override readonly name = 'OutcomeUnknownError';
}

export function isP2Error(error: unknown): error is P2Error {
  return error instanceof P2Error;
}

/** A message for anything thrown, without assuming it is an Error. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** Levenshtein-based suggestion for "did you mean" hints on unknown names. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * The hint for an id that names nothing: the nearest existing id when one is close (`Did you mean s_1a2b?`), else
 * the latest few, then where to list them all. `ids` newest first (only the first few are shown).
 */
export function unknownIdHint(ref: string, ids: readonly string[], listCommand: string): string {
  const near = suggest(ref, ids) ?? nearPrefix(ref, ids);
  if (near !== undefined) return `Did you mean ${near}? See all: ${listCommand}`;
  if (ids.length === 0) return `There are none yet (${listCommand}).`;
  const latest = ids.slice(0, 3).join(', ');
  return `${ids.length > 3 ? 'The latest' : 'They are'}: ${latest}. See all: ${listCommand}`;
}

/** An id whose start is one typo away from `ref` (ids are abbreviated to prefixes, so `s_1a2c` means `s_1a2b…`). */
function nearPrefix(ref: string, ids: readonly string[]): string | undefined {
  if (ref.length < 4) return undefined;
  return ids.find(
    (id) => id.length > ref.length && editDistance(ref.toLowerCase(), id.slice(0, ref.length).toLowerCase()) <= 1,
  );
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
