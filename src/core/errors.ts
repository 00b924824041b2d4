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
  | 'E_LEASE_HELD'
  | 'E_LEASE_LOST'
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
