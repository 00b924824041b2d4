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
  | {
      readonly kind: 'exercise';
      readonly templateId: TemplateId;
      readonly contractId: ContractId;
      readonly choice: string;
      readonly arg: Readonly<Record<string, unknown>>;
    };

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
  | {
      readonly kind: 'archived';
      readonly nodeId: number;
      readonly contractId: ContractId;
      readonly templateId: TemplateId;
      readonly stakeholders: readonly PartyId[];
    }
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

/** An update as the audit trail shows it: where it is in the chain and what it was. */
export interface TrailEntry extends AuditEntry {
  readonly commandId: string;
  readonly workflowId: string | null;
  readonly effectiveAt: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly head: { readonly offset: Offset; readonly hash: string } | null;
  /** The first update whose stored content or link no longer matches its hash. */
  readonly firstBad?: Offset;
  readonly reason?: string;
  /** How the chain is protected: keyed (an HMAC with a key outside the database) or plain (SHA-256 only), and why. */
  readonly mode?: string;
}

/** Which updates a read returns: by offset, optionally newest first, of one workflow, or since a moment. */
export interface UpdateQuery {
  /** Only updates after this offset (0: from the start). */
  readonly afterOffset?: Offset;
  /** Only updates before this offset (to page backwards with `newestFirst`). */
  readonly beforeOffset?: Offset;
  readonly limit?: number;
  /** Newest first (what a history shows); ascending otherwise. */
  readonly newestFirst?: boolean;
  /** Only updates of this workflow id (p2tui sets it to the session a payment belongs to). */
  readonly workflowId?: string;
  /** Only updates effective at or after this ISO time. */
  readonly since?: string;
  /** Only updates this party submitted alone (its own payments, escrows). */
  readonly submittedBy?: PartyId;
}

/**
 * Every operation is asynchronous: the wallet service is written once against this port and runs on the embedded
 * ledger (in process) and on a Canton participant (over HTTP) alike.
 */
export interface LedgerApi {
  readonly backend: 'embedded' | 'canton-json-v2';
  ledgerEnd(): Promise<Offset>;
  allocateParty(hint: string): Promise<PartyId>;
  findParty(hint: string): Promise<PartyId | undefined>;
  parties(): Promise<{ party: PartyId; hint: string }[]>;
  submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction>;
  /** `'*'`: every party's (the operator's view; on Canton, a user with read-as-any-party rights). */
  activeContracts<T = Record<string, unknown>>(
    party: PartyId | '*',
    templateIds: readonly TemplateId[],
  ): Promise<ActiveContract<T>[]>;
  /** The updates `party` is a stakeholder of, with only the events it sees. */
  updates(party: PartyId | '*', query?: UpdateQuery): Promise<LedgerTransaction[]>;
  updateById(updateId: string): Promise<LedgerTransaction | undefined>;
  /** The update a command was accepted as (the change id: user, acting parties, command id), if it was. */
  completion(commandId: string, actAs: readonly PartyId[]): Promise<LedgerTransaction | undefined>;
  /**
   * The audit chain's verification: p2tui's own hash chain over the embedded ledger. A Canton participant keeps its
   * own integrity (its ledger is replicated and signed), so the adapter has none.
   */
  verifyChain?(): Promise<AuditReport>;
  /** The chain's state without reading all of it: the newest full verification's verdict and the updates since. */
  chainStatus?(): Promise<AuditReport>;
  /** How the chain is protected (keyed or plain, and why), for `ledger audit`. */
  chainMode?(): string;
  /**
   * `ledger rekey`: after a full verification of the plain chain and value conservation, links the chain under a
   * new key and records that it happened (the way back from a lost key).
   */
  rekey?(): Promise<{ report: AuditReport; keyId: string; keySource: string; previous: string }>;
  /** The newest links of the audit chain, newest first. */
  auditTrail?(limit: number): Promise<TrailEntry[]>;
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
  constructor(
    ledgerCode: LedgerErrorCode,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
    hint?: string,
  ) {
    super(
      ledgerCode === 'AUDIT_CHAIN_BROKEN' ? 'E_LEDGER_CHAIN' : 'E_LEDGER',
      `${ledgerCode}: ${message}`,
      hint === undefined ? {} : { hint },
    );
    this.ledgerCode = ledgerCode;
    this.details = details;
  }
}

export type { Decimal };
