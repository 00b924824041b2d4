import { z } from 'zod';
import { UserError } from '../../core/errors.ts';
import { parseBundle, type SessionBundle } from '../../store/bundle.ts';
import { modelRefSchema } from '../../models/model-ref.ts';
import type { CellMetrics, CellRow } from '../../store/rollouts.ts';

/**
 * The messages of a distributed rollout, each checked where it arrives: the job a worker takes (the cell to run) and
 * the result it returns (checked by the coordinator before it stores or pays anything). Both come from another
 * process through Redis and are believed only once they parse.
 */

const decimal = z.string().regex(/^-?\d{1,28}(\.\d{1,10})?$/, 'a decimal amount');
const positive = z.string().regex(/^\d{1,28}(\.\d{1,10})?$/, 'a positive decimal amount');
const name = z.string().min(1).max(200);
const count = z.number().int().min(0);

/** What a worker needs to run a cell: the spec (parsed again by the worker) and which of its cells. */
export interface CellJob {
  readonly rollout: { readonly id: string; readonly name: string };
  readonly specFile: string;
  readonly spec: unknown;
  readonly cell: { readonly id: string };
  /** The hash of the coordinator's workspace (a worker of another workspace refuses the job). */
  readonly workspace: string;
  /** Which time the coordinator queues this cell (1, 2, …): a result answers one attempt, never another. */
  readonly attempt: number;
  /** The ledger scope the coordinator chose for this attempt: the cell's agents pay from these parties only. */
  readonly scope: string;
  /** The rollout's `--model` and judge model, when it was run with them (signed with the rest). */
  readonly models?: { readonly model?: string | undefined; readonly judgeModel?: string | undefined } | undefined;
  /** The coordinator's HMAC over the rest (see signing.ts): a worker runs no job it cannot verify. */
  readonly signature: string;
}

const cellJobSchema = z.object({
  rollout: z.strictObject({ id: name, name: z.string().max(200) }),
  specFile: z.string().min(1).max(1_000),
  spec: z.unknown(),
  // Only the id is read: the worker derives the cell itself from the spec, so a job cannot smuggle in settings.
  cell: z.looseObject({ id: name }),
  workspace: name,
  attempt: z.number().int().min(1).max(1_000_000),
  scope: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a ledger scope'),
  models: z
    .strictObject({
      model: modelRefSchema('scripted/default').optional(),
      judgeModel: modelRefSchema('scripted/judge').optional(),
    })
    .optional(),
  signature: z.string(),
});

/** Checks a job a worker took off the queue; throws a UserError naming what is wrong. */
export function parseCellJob(value: unknown, job: string): CellJob {
  const parsed = cellJobSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(job)'}: ${i.message}`);
    throw new UserError('E_QUEUE', `job ${job} is malformed: ${issues.join('; ')}`, {
      hint: 'Coordinators and workers must run the same p2tui version.',
    });
  }
  return parsed.data;
}

/** A payment of the cell, as the coordinator applies it (by business reference: applying it twice pays once). */
export const ledgerOpSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('mint'), to: name, amount: positive, reason: z.string(), reference: name }),
  z.strictObject({
    kind: z.literal('transfer'),
    from: name,
    to: name,
    amount: positive,
    reason: z.string(),
    reference: name,
    workflowId: z.string().nullable(),
  }),
  z.strictObject({
    kind: z.literal('escrow'),
    payer: name,
    payee: name,
    amount: positive,
    reference: name,
    workflowId: z.string().nullable(),
  }),
  z.strictObject({
    kind: z.literal('settle'),
    payer: name,
    reference: name,
    outcome: z.enum(['release', 'refund']),
  }),
]);

export type LedgerOp = z.output<typeof ledgerOpSchema>;

export const cellMetricsSchema = z.strictObject({
  scores: z.record(z.string(), z.number().min(0).max(1).nullable()),
  steps: count,
  tokens: count,
  costUsd: z.number().min(0),
  latencyMs: z.number().min(0),
  delegations: count,
  transfers: count,
  netFlow: z.record(z.string(), decimal),
  balances: z.record(z.string(), decimal),
  status: z.string(),
  answer: z.string(),
  branch: z.string().optional(),
}) satisfies z.ZodType<CellMetrics>;

/**
 * What a worker returns for a cell, signed for the job's id, rollout, cell and attempt. Only its bundle and ledger
 * operations are used, and only after the coordinator checked them; its metrics are the worker's own view (the
 * coordinator recomputes scores, steps, tokens and cost from the bundle's rows).
 */
export interface CellResult {
  readonly status: CellRow['status'];
  readonly error: string | null;
  readonly metrics: CellMetrics | null;
  readonly bundle: SessionBundle | null;
  readonly ledger: readonly LedgerOp[];
  readonly worker: string;
  readonly signature: string;
}

const cellResultSchema = z.strictObject({
  status: z.enum(['pending', 'running', 'done', 'failed']),
  error: z.string().max(100_000).nullable(),
  metrics: cellMetricsSchema.nullable(),
  // Checked by the bundle's own schema (with a message that names the bundle's field).
  bundle: z.unknown(),
  ledger: z.array(ledgerOpSchema).max(100_000),
  worker: z.string().max(300),
  signature: z.string(),
});

/** Checks a worker's result for cell `job`; a result that does not parse is a UserError naming the field. */
export function parseCellResult(value: unknown, job: string): CellResult {
  const parsed = cellResultSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`);
    throw new UserError('E_QUEUE', `the worker's result for ${job} is malformed: ${issues.join('; ')}`, {
      hint: 'Workers must run the same p2tui version and workspace as the coordinator.',
    });
  }
  const { bundle, ...rest } = parsed.data;
  return { ...rest, bundle: bundle === null ? null : parseBundle(bundle, `the worker's bundle for ${job}`) };
}

/** Whether a job's stored result says its cell is done (anything unreadable is not). */
export function resultIsDone(value: unknown): boolean {
  return cellResultSchema.safeParse(value).data?.status === 'done';
}
