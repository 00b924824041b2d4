import { UserError } from '../../core/errors.ts';
import {
  LedgerError,
  type ActiveContract,
  type Command,
  type CommandMeta,
  type LedgerApi,
  type LedgerErrorCode,
  type LedgerTransaction,
  type Offset,
  type PartyId,
  type TemplateId,
  type UpdateQuery,
} from '../types.ts';
import type { AdapterReads, AdapterRequests, CumulativeFilterOut, EventFormatOut } from './shapes.ts';
import { ERROR_STATUS, fromJsTransaction, type JsCantonError, type JsCommand } from './wire.ts';

/** An event format for some parties, or for every party (`'*'`: needs a user with read-as-any-party rights). */
function eventFormat(party: PartyId | '*', filters: CumulativeFilterOut[]): EventFormatOut {
  return party === '*'
    ? { filtersByParty: {}, filtersForAnyParty: { cumulative: filters }, verbose: true }
    : { filtersByParty: { [party]: { cumulative: filters } }, verbose: true };
}

/** Completions read per request (below Canton's default list limit). */
const COMPLETION_PAGE = 1_000;

const WILDCARD: CumulativeFilterOut[] = [
  { identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } },
];

/**
 * The adapter for Canton's JSON Ledger API v2 (Canton 3.4+; `@daml/ledger` speaks only the removed v1). It uses the
 * endpoints and shapes of the v2 OpenAPI; refusals come back as LedgerErrors with Canton's error ids. Reads that the
 * API cannot filter (a workflow, a time, newest first) page through the party's updates and filter here: fine for a
 * wallet's history, slow for millions of updates (a participant query store is the tool for that).
 */
export class CantonJsonLedger implements LedgerApi {
  readonly backend = 'canton-json-v2' as const;
  private readonly base: string;
  private readonly token: string | undefined;
  private readonly userId: string;
  /** Completions seen so far, per set of acting parties: where to read on from, and command id → update id. */
  private readonly completions = new Map<string, { cursor: Offset; byCommand: Map<string, string> }>();

  constructor(options: { url: string; token?: string; userId?: string }) {
    this.base = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.userId = options.userId ?? 'p2tui';
  }

  async ledgerEnd(): Promise<Offset> {
    return (await this.get('GET /v2/state/ledger-end', '')).offset;
  }

  async allocateParty(hint: string): Promise<PartyId> {
    const existing = await this.findParty(hint);
    if (existing !== undefined) return existing;
    return (await this.post('POST /v2/parties', '', { partyIdHint: hint, identityProviderId: '' })).partyDetails.party;
  }

  async findParty(hint: string): Promise<PartyId | undefined> {
    const found = await this.get('GET /v2/parties', `?filter-party=${encodeURIComponent(hint)}`);
    return found.partyDetails.find((p) => p.party.startsWith(`${hint}::`))?.party;
  }

  async parties(): Promise<{ party: PartyId; hint: string }[]> {
    const out: { party: PartyId; hint: string }[] = [];
    for (let token = ''; ;) {
      const page = await this.get('GET /v2/parties', token === '' ? '' : `?pageToken=${encodeURIComponent(token)}`);
      for (const p of page.partyDetails) out.push({ party: p.party, hint: p.party.split('::')[0]! });
      if (page.nextPageToken === undefined || page.nextPageToken === '') return out;
      token = page.nextPageToken;
    }
  }

  async submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction> {
    const js: JsCommand[] = commands.map((c) =>
      c.kind === 'create'
        ? { CreateCommand: { templateId: c.templateId, createArguments: { ...c.args } } }
        : {
            ExerciseCommand: {
              templateId: c.templateId,
              contractId: c.contractId,
              choice: c.choice,
              choiceArgument: { ...c.arg },
            },
          },
    );
    const body: AdapterRequests['POST /v2/commands/submit-and-wait-for-transaction'] = {
      commands: {
        commands: js,
        commandId: meta.commandId,
        actAs: [...meta.actAs],
        readAs: [],
        userId: meta.userId ?? this.userId,
        workflowId: meta.workflowId ?? '',
        deduplicationPeriod: { DeduplicationDuration: { value: { seconds: 86_400, nanos: 0 } } },
        submissionId: crypto.randomUUID(),
      },
      transactionFormat: {
        eventFormat: {
          filtersByParty: Object.fromEntries(meta.actAs.map((p) => [p, { cumulative: WILDCARD }])),
          verbose: true,
        },
        transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS',
      },
    };
    return fromJsTransaction(
      (await this.post('POST /v2/commands/submit-and-wait-for-transaction', '', body)).transaction,
    );
  }

  async activeContracts<T = Record<string, unknown>>(
    party: PartyId | '*',
    templateIds: readonly TemplateId[],
  ): Promise<ActiveContract<T>[]> {
    if (templateIds.length === 0) return [];
    const body: AdapterRequests['POST /v2/state/active-contracts'] = {
      activeAtOffset: await this.ledgerEnd(),
      eventFormat: eventFormat(
        party,
        templateIds.map((templateId) => ({
          identifierFilter: { TemplateFilter: { value: { templateId, includeCreatedEventBlob: false } } },
        })),
      ),
    };
    const rows = await this.post('POST /v2/state/active-contracts', '', body);
    return rows.flatMap((r) => {
      const c = r.contractEntry.JsActiveContract?.createdEvent;
      return c === undefined
        ? []
        : [
            {
              contractId: c.contractId,
              templateId: c.templateId,
              // The ledger's own payload for this template (the caller names the type it expects).
              payload: c.createArgument as T,
              signatories: c.signatories,
              observers: c.observers,
              createdOffset: c.offset,
            },
          ];
    });
  }

  async updates(party: PartyId | '*', query: UpdateQuery = {}): Promise<LedgerTransaction[]> {
    const limit = query.limit ?? 1_000;
    // What one party submitted: its transaction's first node is a choice that party exercised alone.
    const submitted = (tx: LedgerTransaction): boolean => {
      const root = tx.events[0];
      return (
        root?.kind === 'exercised' && root.actingParties.length === 1 && root.actingParties[0] === query.submittedBy
      );
    };
    const keep = (tx: LedgerTransaction): boolean =>
      (query.workflowId === undefined || tx.workflowId === query.workflowId) &&
      (query.since === undefined || tx.effectiveAt >= query.since) &&
      (query.beforeOffset === undefined || tx.offset < query.beforeOffset) &&
      (query.submittedBy === undefined || submitted(tx));
    const out: LedgerTransaction[] = [];
    const end = await this.ledgerEnd();
    for (let after = query.afterOffset ?? 0; after < end;) {
      const page = await this.page(party, after, end, 500);
      // Offset checkpoints and other items move the cursor too: only the ledger end (or an empty page) stops it.
      if (page.last <= after) break;
      after = page.last;
      out.push(...page.transactions.filter(keep));
      // Ascending reads stop at the limit; newest-first ones need everything up to the end (the API reads forwards).
      if (query.newestFirst !== true && out.length >= limit) break;
    }
    return query.newestFirst === true ? out.reverse().slice(0, limit) : out.slice(0, limit);
  }

  /** `parties`: whose view (a user without read-as-any-party rights must name them); default any party. */
  async updateById(updateId: string, parties?: readonly PartyId[]): Promise<LedgerTransaction | undefined> {
    try {
      const format: EventFormatOut =
        parties === undefined || parties.length === 0
          ? eventFormat('*', WILDCARD)
          : { filtersByParty: Object.fromEntries(parties.map((p) => [p, { cumulative: WILDCARD }])), verbose: true };
      const body: AdapterRequests['POST /v2/updates/update-by-id'] = {
        updateId,
        updateFormat: {
          includeTransactions: { eventFormat: format, transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' },
        },
      };
      const found = await this.post('POST /v2/updates/update-by-id', '', body);
      return found.update.Transaction === undefined ? undefined : fromJsTransaction(found.update.Transaction.value);
    } catch (error) {
      if (error instanceof UserError && /HTTP 404/.test(error.message)) return undefined;
      throw error;
    }
  }

  /**
   * From the completions of these parties' commands, read in pages from where the last lookup stopped (Canton
   * refuses list results above its element limit), with what was seen kept per set of parties.
   */
  async completion(commandId: string, actAs: readonly PartyId[]): Promise<LedgerTransaction | undefined> {
    const wanted = [...new Set(actAs)].sort().join(',');
    let seen = this.completions.get(wanted);
    if (seen === undefined) this.completions.set(wanted, (seen = { cursor: 0, byCommand: new Map() }));
    const known = seen.byCommand.get(commandId);
    if (known !== undefined) return this.updateById(known, actAs);
    for (;;) {
      const items = await this.post(
        'POST /v2/commands/completions',
        `?limit=${COMPLETION_PAGE}&stream_idle_timeout_ms=1000`,
        { userId: this.userId, parties: [...actAs], beginExclusive: seen.cursor },
      );
      for (const i of items) {
        const c = i.completionResponse.Completion?.value;
        const offset = c?.offset ?? i.completionResponse.OffsetCheckpoint?.value.offset;
        if (offset !== undefined && offset > seen.cursor) seen.cursor = offset;
        if (c === undefined || (c.status?.code ?? 0) !== 0 || c.updateId === undefined || c.updateId === '') continue;
        if ([...new Set(c.actAs ?? actAs)].sort().join(',') === wanted) seen.byCommand.set(c.commandId, c.updateId);
      }
      if (items.length < COMPLETION_PAGE) break;
    }
    const done = seen.byCommand.get(commandId);
    return done === undefined ? undefined : this.updateById(done, actAs);
  }

  /** One page of updates: its transactions, and the last offset any of its items (checkpoints too) reached. */
  private async page(
    party: PartyId | '*',
    after: Offset,
    end: Offset,
    limit: number,
  ): Promise<{ transactions: LedgerTransaction[]; last: Offset }> {
    const body: AdapterRequests['POST /v2/updates'] = {
      beginExclusive: after,
      endInclusive: end,
      updateFormat: {
        includeTransactions: {
          eventFormat: eventFormat(party, WILDCARD),
          transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS',
        },
      },
    };
    const items = await this.post('POST /v2/updates', `?limit=${limit}&stream_idle_timeout_ms=1000`, body);
    let last = after;
    const transactions: LedgerTransaction[] = [];
    for (const i of items) {
      const offset = i.update.Transaction?.value.offset ?? i.update.OffsetCheckpoint?.value.offset;
      if (offset !== undefined && offset > last) last = offset;
      if (i.update.Transaction !== undefined) transactions.push(fromJsTransaction(i.update.Transaction.value));
    }
    return { transactions, last };
  }

  /**
   * A route's request and response, typed as shapes.ts says (checked against Canton's OpenAPI types by
   * test/ledger/canton-conformance.test-d.ts): a request field renamed or dropped here is a type error.
   */
  private async post<R extends keyof AdapterRequests & keyof AdapterReads>(
    route: R,
    query: string,
    body: AdapterRequests[R],
  ): Promise<AdapterReads[R]> {
    return (await this.call('POST', `${route.slice('POST '.length)}${query}`, body)) as AdapterReads[R];
  }

  private async get<R extends Extract<keyof AdapterReads, `GET ${string}`>>(
    route: R,
    query: string,
  ): Promise<AdapterReads[R]> {
    return (await this.call('GET', `${route.slice('GET '.length)}${query}`)) as AdapterReads[R];
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new UserError('E_LEDGER', `the ledger at ${this.base} cannot be reached: ${(error as Error).message}`, {
        hint: 'Check CANTON_JSON_API_URL (or start it: p2tui ledger serve / a Canton sandbox).',
      });
    }
    const text = await response.text();
    if (response.ok) return text === '' ? {} : JSON.parse(text);
    let error: AdapterReads['error'];
    try {
      error = JSON.parse(text) as JsCantonError;
    } catch {
      error = { code: `HTTP_${response.status}`, cause: text.slice(0, 300) };
    }
    const code = (error.code ?? '') as LedgerErrorCode;
    if (code in ERROR_STATUS) throw new LedgerError(code, error.cause ?? '', error.context ?? {});
    throw new UserError(
      'E_LEDGER',
      `the ledger refused ${method} ${path} (HTTP ${response.status}): ${error.code ?? ''} ${error.cause ?? ''}`.trim(),
    );
  }
}
