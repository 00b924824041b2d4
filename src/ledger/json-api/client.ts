import { UserError } from '../../core/errors.ts';
import { LedgerError, type ActiveContract, type Command, type CommandMeta, type LedgerApi, type LedgerErrorCode, type LedgerTransaction, type Offset, type PartyId, type TemplateId, type UpdateQuery } from '../types.ts';
import { ERROR_STATUS, fromJsTransaction, type JsCantonError, type JsCommand, type JsTransaction } from './wire.ts';

/** An event format for some parties, or for every party (`'*'`: needs a user with read-as-any-party rights). */
function eventFormat(party: PartyId | '*', filters: unknown[]): Record<string, unknown> {
  return party === '*' ? { filtersByParty: {}, filtersForAnyParty: { cumulative: filters }, verbose: true } : { filtersByParty: { [party]: { cumulative: filters } }, verbose: true };
}

const WILDCARD = [{ identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } }];

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

  constructor(options: { url: string; token?: string; userId?: string }) {
    this.base = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.userId = options.userId ?? 'p2tui';
  }

  async ledgerEnd(): Promise<Offset> {
    return ((await this.call('GET', '/v2/state/ledger-end')) as { offset: number }).offset;
  }

  async allocateParty(hint: string): Promise<PartyId> {
    const existing = await this.findParty(hint);
    if (existing !== undefined) return existing;
    return ((await this.call('POST', '/v2/parties', { partyIdHint: hint, identityProviderId: '' })) as { partyDetails: { party: string } }).partyDetails.party;
  }

  async findParty(hint: string): Promise<PartyId | undefined> {
    const found = (await this.call('GET', `/v2/parties?filter-party=${encodeURIComponent(hint)}`)) as { partyDetails: { party: string }[] };
    return found.partyDetails.find((p) => p.party.startsWith(`${hint}::`))?.party;
  }

  async parties(): Promise<{ party: PartyId; hint: string }[]> {
    const out: { party: PartyId; hint: string }[] = [];
    for (let token = ''; ; ) {
      const page = (await this.call('GET', `/v2/parties${token === '' ? '' : `?pageToken=${encodeURIComponent(token)}`}`)) as { partyDetails: { party: string }[]; nextPageToken?: string };
      for (const p of page.partyDetails) out.push({ party: p.party, hint: p.party.split('::')[0]! });
      if (page.nextPageToken === undefined || page.nextPageToken === '') return out;
      token = page.nextPageToken;
    }
  }

  async submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction> {
    const js: JsCommand[] = commands.map((c) =>
      c.kind === 'create'
        ? { CreateCommand: { templateId: c.templateId, createArguments: { ...c.args } } }
        : { ExerciseCommand: { templateId: c.templateId, contractId: c.contractId, choice: c.choice, choiceArgument: { ...c.arg } } },
    );
    const body = {
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
        eventFormat: { filtersByParty: Object.fromEntries(meta.actAs.map((p) => [p, { cumulative: WILDCARD }])), verbose: true },
        transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS',
      },
    };
    return fromJsTransaction(((await this.call('POST', '/v2/commands/submit-and-wait-for-transaction', body)) as { transaction: JsTransaction }).transaction);
  }

  async activeContracts<T = Record<string, unknown>>(party: PartyId | '*', templateIds: readonly TemplateId[]): Promise<ActiveContract<T>[]> {
    if (templateIds.length === 0) return [];
    const body = {
      activeAtOffset: await this.ledgerEnd(),
      eventFormat: eventFormat(party, templateIds.map((templateId) => ({ identifierFilter: { TemplateFilter: { value: { templateId, includeCreatedEventBlob: false } } } }))),
    };
    const rows = (await this.call('POST', '/v2/state/active-contracts', body)) as { contractEntry: { JsActiveContract?: { createdEvent: { contractId: string; templateId: string; createArgument: T; signatories: string[]; observers: string[]; offset: number } } } }[];
    return rows.flatMap((r) => {
      const c = r.contractEntry.JsActiveContract?.createdEvent;
      return c === undefined ? [] : [{ contractId: c.contractId, templateId: c.templateId, payload: c.createArgument, signatories: c.signatories, observers: c.observers, createdOffset: c.offset }];
    });
  }

  async updates(party: PartyId | '*', query: UpdateQuery = {}): Promise<LedgerTransaction[]> {
    const limit = query.limit ?? 1_000;
    // What one party submitted: its transaction's first node is a choice that party exercised alone.
    const submitted = (tx: LedgerTransaction): boolean => {
      const root = tx.events[0];
      return root?.kind === 'exercised' && root.actingParties.length === 1 && root.actingParties[0] === query.submittedBy;
    };
    const keep = (tx: LedgerTransaction): boolean =>
      (query.workflowId === undefined || tx.workflowId === query.workflowId) &&
      (query.since === undefined || tx.effectiveAt >= query.since) &&
      (query.beforeOffset === undefined || tx.offset < query.beforeOffset) &&
      (query.submittedBy === undefined || submitted(tx));
    const out: LedgerTransaction[] = [];
    const end = await this.ledgerEnd();
    for (let after = query.afterOffset ?? 0; after < end; ) {
      const page = await this.page(party, after, end, 500);
      if (page.length === 0) break;
      after = page.at(-1)!.offset;
      out.push(...page.filter(keep));
      // Ascending reads stop at the limit; newest-first ones need everything up to the end (the API reads forwards).
      if (query.newestFirst !== true && out.length >= limit) break;
    }
    return query.newestFirst === true ? out.reverse().slice(0, limit) : out.slice(0, limit);
  }

  async updateById(updateId: string): Promise<LedgerTransaction | undefined> {
    try {
      const body = { updateId, updateFormat: { includeTransactions: { eventFormat: eventFormat('*', WILDCARD), transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' } } };
      const found = (await this.call('POST', '/v2/updates/update-by-id', body)) as { update: { Transaction?: { value: JsTransaction } } };
      return found.update.Transaction === undefined ? undefined : fromJsTransaction(found.update.Transaction.value);
    } catch (error) {
      if (error instanceof UserError && /HTTP 404/.test(error.message)) return undefined;
      throw error;
    }
  }

  /** From the completions of these parties' commands (Canton keeps them; dedup holds for the period set on submit). */
  async completion(commandId: string, actAs: readonly PartyId[]): Promise<LedgerTransaction | undefined> {
    const body = { userId: this.userId, parties: [...actAs], beginExclusive: 0 };
    const items = (await this.call('POST', '/v2/commands/completions?limit=100000&stream_idle_timeout_ms=1000', body)) as {
      completionResponse: { Completion?: { value: { commandId: string; updateId?: string; actAs?: string[]; status?: { code?: number } } } };
    }[];
    const wanted = [...new Set(actAs)].sort().join(',');
    const done = items.find((i) => {
      const c = i.completionResponse.Completion?.value;
      return c !== undefined && c.commandId === commandId && (c.status?.code ?? 0) === 0 && c.updateId !== undefined && c.updateId !== '' && [...new Set(c.actAs ?? actAs)].sort().join(',') === wanted;
    })?.completionResponse.Completion?.value.updateId;
    return done === undefined ? undefined : this.updateById(done);
  }

  private async page(party: PartyId | '*', after: Offset, end: Offset, limit: number): Promise<LedgerTransaction[]> {
    const body = {
      beginExclusive: after,
      endInclusive: end,
      updateFormat: { includeTransactions: { eventFormat: eventFormat(party, WILDCARD), transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' } },
    };
    const items = (await this.call('POST', `/v2/updates?limit=${limit}&stream_idle_timeout_ms=1000`, body)) as { update: { Transaction?: { value: JsTransaction } } }[];
    return items.flatMap((i) => (i.update.Transaction === undefined ? [] : [fromJsTransaction(i.update.Transaction.value)]));
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new UserError('E_LEDGER', `the ledger at ${this.base} cannot be reached: ${(error as Error).message}`, { hint: 'Check CANTON_JSON_API_URL (or start it: p2tui ledger serve / a Canton sandbox).' });
    }
    const text = await response.text();
    if (response.ok) return text === '' ? {} : JSON.parse(text);
    let error: Partial<JsCantonError>;
    try {
      error = JSON.parse(text) as JsCantonError;
    } catch {
      error = { code: `HTTP_${response.status}`, cause: text.slice(0, 300) };
    }
    const code = (error.code ?? '') as LedgerErrorCode;
    if (code in ERROR_STATUS) throw new LedgerError(code, error.cause ?? '', error.context ?? {});
    throw new UserError('E_LEDGER', `the ledger refused ${method} ${path} (HTTP ${response.status}): ${error.code ?? ''} ${error.cause ?? ''}`.trim());
  }
}
