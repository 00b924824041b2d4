import { z } from 'zod';

/**
 * The request bodies `ledger serve` accepts, as the JSON Ledger API v2 defines them (the fields the facade reads;
 * others a client sends are allowed and ignored, as a participant ignores what it does not need). A body that does
 * not parse is answered 400 INVALID_ARGUMENT naming the field, before anything reaches the ledger.
 */

const id = z.string().min(1).max(1_000);
const offset = z.number().int().min(0);
const args = z.record(z.string(), z.unknown());

export const jsCommandSchema = z.union([
  z.looseObject({ CreateCommand: z.looseObject({ templateId: id, createArguments: args }) }),
  z.looseObject({
    ExerciseCommand: z.looseObject({ templateId: id, contractId: id, choice: id, choiceArgument: args }),
  }),
]);

const cumulativeSchema = z.array(
  z.looseObject({
    identifierFilter: z
      .looseObject({
        TemplateFilter: z.looseObject({ value: z.looseObject({ templateId: id }) }).optional(),
        WildcardFilter: z.unknown().optional(),
      })
      .optional(),
  }),
);

const filterSchema = z.looseObject({ cumulative: cumulativeSchema.optional() });

/** Which parties' (or any party's) contracts or updates, of which templates. */
export const eventFormatSchema = z.looseObject({
  filtersByParty: z.record(z.string(), filterSchema).optional(),
  filtersForAnyParty: filterSchema.optional(),
});

export type EventFormat = z.output<typeof eventFormatSchema>;

export const REQUESTS = {
  'POST /v2/parties': z.looseObject({ partyIdHint: id }),
  'POST /v2/commands/submit-and-wait-for-transaction': z.looseObject({
    commands: z.looseObject({
      commands: z.array(jsCommandSchema).min(1).max(1_000),
      commandId: id,
      actAs: z.array(id).min(1).max(100),
      userId: z.string().optional(),
      workflowId: z.string().optional(),
    }),
  }),
  'POST /v2/state/active-contracts': z.looseObject({
    eventFormat: eventFormatSchema.optional(),
    activeAtOffset: offset.optional(),
  }),
  'POST /v2/updates': z.looseObject({
    beginExclusive: offset.optional(),
    endInclusive: offset.optional(),
    updateFormat: z
      .looseObject({ includeTransactions: z.looseObject({ eventFormat: eventFormatSchema.optional() }).optional() })
      .optional(),
  }),
  'POST /v2/updates/update-by-id': z.looseObject({
    updateId: id,
    updateFormat: z
      .looseObject({ includeTransactions: z.looseObject({ eventFormat: eventFormatSchema.optional() }).optional() })
      .optional(),
  }),
  'POST /v2/commands/completions': z.looseObject({
    parties: z.array(id).max(1_000).optional(),
    beginExclusive: offset.optional(),
    userId: z.string().optional(),
  }),
} as const;

export type Route = keyof typeof REQUESTS;
export type RequestBody<R extends Route> = z.output<(typeof REQUESTS)[R]>;

/** A route's body, parsed; a message naming the first fields that are wrong when it does not parse. */
export function parseRequest<R extends Route>(
  route: R,
  body: unknown,
): { ok: true; body: RequestBody<R> } | { ok: false; error: string } {
  const parsed = REQUESTS[route].safeParse(body);
  if (parsed.success) return { ok: true, body: parsed.data as RequestBody<R> };
  const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  return { ok: false, error: `invalid request body: ${issues.join('; ')}` };
}
