import type { JsCantonError, JsCommand, JsEvent, JsTransaction } from './wire.ts';

/**
 * The JSON Ledger API v2 bodies p2tui puts on the wire: the requests the Canton adapter (client.ts) sends and the
 * responses `ledger serve` (facade.ts) answers with, each written as the exact object literal the code builds (the
 * builders are annotated with these types, so a field renamed in one place is a type error there).
 * test/ledger/canton-conformance.test-d.ts checks every one of them against Canton's own generated OpenAPI types
 * (3.4 and 3.5, from @canton-network/core-ledger-client-types, a devDependency): a field Canton does not define, a
 * missing required one or a wrong value type fails `tsc --noEmit`. Types only: nothing here exists at run time.
 */

/** A filter on which contracts or events: all templates, or one. */
export type CumulativeFilterOut =
  | { identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: boolean } } } }
  | { identifierFilter: { TemplateFilter: { value: { templateId: string; includeCreatedEventBlob: boolean } } } };

export interface EventFormatOut {
  filtersByParty: Record<string, { cumulative: CumulativeFilterOut[] }>;
  filtersForAnyParty?: { cumulative: CumulativeFilterOut[] };
  verbose: boolean;
}

export interface TransactionFormatOut {
  eventFormat: EventFormatOut;
  transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS';
}

/** What the adapter sends, per route. */
export interface AdapterRequests {
  'POST /v2/parties': { partyIdHint: string; identityProviderId: string };
  'POST /v2/commands/submit-and-wait-for-transaction': {
    commands: {
      commands: JsCommand[];
      commandId: string;
      actAs: string[];
      readAs: string[];
      userId: string;
      workflowId: string;
      deduplicationPeriod: { DeduplicationDuration: { value: { seconds: number; nanos: number } } };
      submissionId: string;
    };
    transactionFormat: TransactionFormatOut;
  };
  'POST /v2/state/active-contracts': { activeAtOffset: number; eventFormat: EventFormatOut };
  'POST /v2/updates': {
    beginExclusive: number;
    endInclusive: number;
    updateFormat: { includeTransactions: TransactionFormatOut };
  };
  'POST /v2/updates/update-by-id': { updateId: string; updateFormat: { includeTransactions: TransactionFormatOut } };
  'POST /v2/commands/completions': { userId: string; parties: string[]; beginExclusive: number };
}

export interface PartyDetailsOut {
  party: string;
  isLocal: boolean;
  localMetadata: { annotations: Record<string, string> };
  identityProviderId: string;
}

/** A created event as the facade writes it: the wire's own shape (one definition, checked against Canton's). */
export type CreatedEventOut = Extract<JsEvent, { CreatedEvent: unknown }>['CreatedEvent'];

export interface ActiveContractOut {
  workflowId: string;
  contractEntry: {
    JsActiveContract: { createdEvent: CreatedEventOut; synchronizerId: string; reassignmentCounter: number };
  };
}

export interface CompletionOut {
  completionResponse: {
    Completion: {
      value: {
        commandId: string;
        updateId: string;
        actAs: string[];
        userId: string;
        status: { code: number; message: string; details: never[] };
        offset: number;
        synchronizerTime: { synchronizerId: string; recordTime: string };
      };
    };
  };
}

/** What `ledger serve` answers, per route (200 unless said); refusals are JsCantonError everywhere. */
export interface FacadeResponses {
  'GET /v2/version': {
    version: string;
    features: {
      experimental: Record<never, never>;
      userManagement: { supported: boolean; maxRightsPerUser: number; maxUsersPageSize: number };
      partyManagement: { maxPartiesPageSize: number };
      offsetCheckpoint: { maxOffsetCheckpointEmissionDelay: { seconds: number; nanos: number } };
      packageFeature: { maxVettedPackagesPageSize: number };
    };
  };
  'GET /v2/state/ledger-end': { offset: number };
  'GET /v2/parties': { partyDetails: PartyDetailsOut[] };
  'GET /v2/parties/{party}': { partyDetails: PartyDetailsOut[] };
  'GET /v2/state/connected-synchronizers': {
    connectedSynchronizers: {
      synchronizerAlias: string;
      synchronizerId: string;
      permission: 'PARTICIPANT_PERMISSION_SUBMISSION';
    }[];
  };
  'POST /v2/parties': { partyDetails: PartyDetailsOut };
  'POST /v2/commands/submit-and-wait-for-transaction': { transaction: JsTransaction };
  'POST /v2/state/active-contracts': ActiveContractOut[];
  'POST /v2/updates': { update: { Transaction: { value: JsTransaction } } }[];
  'POST /v2/updates/update-by-id': { update: { Transaction: { value: JsTransaction } } };
  'POST /v2/commands/completions': CompletionOut[];
  error: JsCantonError;
}

/**
 * What the adapter reads of each response: only fields Canton defines (the conformance check says so), each
 * optional where Canton may leave it out.
 */
export interface AdapterReads {
  'GET /v2/state/ledger-end': { offset: number };
  'GET /v2/parties': { partyDetails: { party: string }[]; nextPageToken?: string };
  'POST /v2/parties': { partyDetails: { party: string } };
  'POST /v2/commands/submit-and-wait-for-transaction': { transaction: JsTransaction };
  'POST /v2/state/active-contracts': {
    contractEntry: {
      JsActiveContract?: {
        createdEvent: {
          contractId: string;
          templateId: string;
          createArgument: unknown;
          signatories: string[];
          observers: string[];
          offset: number;
        };
      };
    };
  }[];
  'POST /v2/updates': {
    update: { Transaction?: { value: JsTransaction }; OffsetCheckpoint?: { value: { offset: number } } };
  }[];
  'POST /v2/updates/update-by-id': { update: { Transaction?: { value: JsTransaction } } };
  'POST /v2/commands/completions': {
    completionResponse: {
      Completion?: {
        value: { commandId: string; updateId?: string; actAs?: string[]; status?: { code?: number }; offset?: number };
      };
      OffsetCheckpoint?: { value: { offset: number } };
    };
  }[];
  error: Partial<JsCantonError>;
}
