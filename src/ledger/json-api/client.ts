import { UserError } from '../../core/errors.ts';
import { LedgerError, type ActiveContract, type Command, type CommandMeta, type LedgerErrorCode, type LedgerTransaction, type Offset, type PartyId, type TemplateId } from '../types.ts';
import { ERROR_STATUS, fromJsTransaction, type JsCantonError, type JsCommand, type JsTransaction } from './wire.ts';

/** The ledger operations over the network: the same as the port's, asynchronous. */
export interface RemoteLedger {
  ledgerEnd(): Promise<Offset>;
  allocateParty(hint: string): Promise<PartyId>;
  findParty(hint: string): Promise<PartyId | undefined>;
  submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction>;
  activeContracts<T = Record<string, unknown>>(party: PartyId, templateIds: readonly TemplateId[]): Promise<ActiveContract<T>[]>;
  updates(party: PartyId, afterOffset: Offset, limit?: number): Promise<LedgerTransaction[]>;
}

/**
 * The adapter for Canton's JSON Ledger API v2 (Canton 3.4+; `@daml/ledger` speaks only the removed v1). It uses the
 * endpoints and shapes of the v2 OpenAPI; refusals come back as LedgerErrors with Canton's error ids.
 */
export class CantonJsonLedger implements RemoteLedger {
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
        eventFormat: { filtersByParty: Object.fromEntries(meta.actAs.map((p) => [p, { cumulative: [{ identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } }] }])), verbose: true },
        transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS',
      },
    };
    return fromJsTransaction(((await this.call('POST', '/v2/commands/submit-and-wait-for-transaction', body)) as { transaction: JsTransaction }).transaction);
  }

  async activeContracts<T = Record<string, unknown>>(party: PartyId, templateIds: readonly TemplateId[]): Promise<ActiveContract<T>[]> {
    const body = {
      activeAtOffset: await this.ledgerEnd(),
      eventFormat: { filtersByParty: { [party]: { cumulative: templateIds.map((templateId) => ({ identifierFilter: { TemplateFilter: { value: { templateId, includeCreatedEventBlob: false } } } })) } }, verbose: true },
    };
    const rows = (await this.call('POST', '/v2/state/active-contracts', body)) as { contractEntry: { JsActiveContract?: { createdEvent: { contractId: string; templateId: string; createArgument: T; signatories: string[]; observers: string[]; offset: number } } } }[];
    return rows.flatMap((r) => {
      const c = r.contractEntry.JsActiveContract?.createdEvent;
      return c === undefined ? [] : [{ contractId: c.contractId, templateId: c.templateId, payload: c.createArgument, signatories: c.signatories, observers: c.observers, createdOffset: c.offset }];
    });
  }

  async updates(party: PartyId, afterOffset: Offset, limit = 1_000): Promise<LedgerTransaction[]> {
    const body = {
      beginExclusive: afterOffset,
      endInclusive: await this.ledgerEnd(),
      updateFormat: { includeTransactions: { eventFormat: { filtersByParty: { [party]: { cumulative: [{ identifierFilter: { WildcardFilter: { value: {} } } }] } }, verbose: true }, transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' } },
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
