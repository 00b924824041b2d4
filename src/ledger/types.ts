import { UserError } from '../core/errors.ts';
import type { Decimal } from './decimal.ts';

/**
 * The ledger port, shaped after Daml and Canton's JSON Ledger API v2: parties, templates, create and exercise
 * commands (consuming choices archive their contract), `ensure`, active contracts, updates with offsets, and
 * command ids with deduplication. The embedded ledger implements it in the project's SQLite; a Canton adapter would
 * speak the same port over HTTP.
 */
export type PartyId = string;
export type ContractId = string;
export type TemplateId = string;
/** Strictly increasing per committed update; opaque (a Canton participant's have gaps). */
export type Offset = number;

export type Command =
  | { readonly kind: 'create'; readonly templateId: TemplateId; readonly args: Readonly<Record<string, unknown>> }
  | { readonly kind: 'exercise'; readonly templateId: TemplateId; readonly contractId: ContractId; readonly choice: string; readonly arg: Readonly<Record<string, unknown>> };

export interface CommandMeta {
  /** Deterministic per intended change (`xfer:<reference>:<from>`): a second submit of the same change is refused. */
  readonly commandId: string;
  readonly actAs: readonly PartyId[];
  readonly userId?: string;
  readonly workflowId?: string;
}

export type LedgerEvent =
  | {
      readonly kind: 'created';
      readonly nodeId: number;
      readonly contractId: ContractId;
      readonly templateId: TemplateId;
      readonly payload: Record<string, unknown>;
      readonly signatories: readonly PartyId[];
      readonly observers: readonly PartyId[];
    }
  | { readonly kind: 'archived'; readonly nodeId: number; readonly contractId: ContractId; readonly templateId: TemplateId; readonly stakeholders: readonly PartyId[] }
  | {
      readonly kind: 'exercised';
      readonly nodeId: number;
      readonly contractId: ContractId;
      readonly templateId: TemplateId;
      readonly choice: string;
      readonly arg: Record<string, unknown>;
      readonly actingParties: readonly PartyId[];
      readonly consuming: boolean;
      readonly lastDescendantNodeId: number;
      readonly result: unknown;
      readonly stakeholders: readonly PartyId[];
    };

export interface LedgerTransaction {
  readonly updateId: string;
  readonly commandId: string;
  readonly workflowId: string | null;
  readonly offset: Offset;
  readonly effectiveAt: string;
  /** In the order the nodes ran (pre-order node ids), as LEDGER_EFFECTS shows them. */
  readonly events: readonly LedgerEvent[];
}

export interface ActiveContract<T = Record<string, unknown>> {
  readonly contractId: ContractId;
  readonly templateId: TemplateId;
  readonly payload: T;
  readonly signatories: readonly PartyId[];
  readonly observers: readonly PartyId[];
  readonly createdOffset: Offset;
}

/** One link of the audit chain: an update with the hash of the previous link and its own. */
export interface AuditEntry {
  readonly offset: Offset;
  readonly updateId: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly head: { readonly offset: Offset; readonly hash: string } | null;
  /** The first update whose stored content or link no longer matches its hash. */
  readonly firstBad?: Offset;
  readonly reason?: string;
}

export interface LedgerApi {
  readonly backend: 'embedded' | 'canton-json-v2';
  ledgerEnd(): Offset;
  allocateParty(hint: string): PartyId;
  findParty(hint: string): PartyId | undefined;
  parties(): { party: PartyId; hint: string }[];
  /** Runs `fn` as one atomic unit with the ledger's writes in it (a check and the payment it allows, say). */
  atomically<T>(fn: () => T): T;
  submit(commands: readonly Command[], meta: CommandMeta): LedgerTransaction;
  activeContracts<T = Record<string, unknown>>(party: PartyId | '*', templateIds: readonly TemplateId[]): ActiveContract<T>[];
  updates(party: PartyId | '*', afterOffset: Offset, limit?: number): LedgerTransaction[];
  updateById(updateId: string): LedgerTransaction | undefined;
  /** The update a command was accepted as (the change id: user, acting parties, command id), if it was. */
  completion(commandId: string, actAs: readonly PartyId[]): LedgerTransaction | undefined;
  verifyChain(): AuditReport;
}

/** Canton's error ids for what a ledger refuses. */
export type LedgerErrorCode =
  | 'DUPLICATE_COMMAND'
  | 'CONTRACT_NOT_FOUND'
  | 'TEMPLATE_PRECONDITION_VIOLATED'
  | 'DAML_AUTHORIZATION_ERROR'
  | 'INTERPRETATION_ERROR'
  | 'PARTY_NOT_KNOWN'
  | 'UNKNOWN_TEMPLATE'
  | 'AUDIT_CHAIN_BROKEN';

/** A command the ledger refused: nothing of it was written. */
export class LedgerError extends UserError {
  readonly ledgerCode: LedgerErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  constructor(ledgerCode: LedgerErrorCode, message: string, details: Readonly<Record<string, unknown>> = {}, hint?: string) {
    super(ledgerCode === 'AUDIT_CHAIN_BROKEN' ? 'E_LEDGER_CHAIN' : 'E_LEDGER', `${ledgerCode}: ${message}`, hint === undefined ? {} : { hint });
    this.ledgerCode = ledgerCode;
    this.details = details;
  }
}

export type { Decimal };
