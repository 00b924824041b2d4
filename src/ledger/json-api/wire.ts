import type { LedgerErrorCode, LedgerEvent, LedgerTransaction } from '../types.ts';

/**
 * The subset of Canton's JSON Ledger API v2 (3.4/3.5 OpenAPI shapes) that p2tui's facade serves and its client
 * speaks: parties, ledger end, submit-and-wait-for-transaction (create and exercise), active contracts by template,
 * updates, and JsCantonError for refusals.
 */
export type JsCommand =
  | { CreateCommand: { templateId: string; createArguments: Record<string, unknown> } }
  | {
      ExerciseCommand: {
        templateId: string;
        contractId: string;
        choice: string;
        choiceArgument: Record<string, unknown>;
      };
    };

export type JsEvent =
  | {
      CreatedEvent: {
        offset: number;
        nodeId: number;
        contractId: string;
        templateId: string;
        createArgument: Record<string, unknown>;
        signatories: string[];
        observers: string[];
        witnessParties: string[];
        packageName: string;
        createdAt: string;
        representativePackageId: string;
        acsDelta: boolean;
      };
    }
  | {
      ArchivedEvent: {
        offset: number;
        nodeId: number;
        contractId: string;
        templateId: string;
        witnessParties: string[];
        packageName: string;
      };
    }
  | {
      ExercisedEvent: {
        offset: number;
        nodeId: number;
        contractId: string;
        templateId: string;
        choice: string;
        choiceArgument: Record<string, unknown>;
        actingParties: string[];
        consuming: boolean;
        lastDescendantNodeId: number;
        exerciseResult: unknown;
        witnessParties: string[];
        packageName: string;
        acsDelta: boolean;
      };
    };

export interface JsTransaction {
  updateId: string;
  commandId: string;
  workflowId: string;
  offset: number;
  effectiveAt: string;
  recordTime: string;
  synchronizerId: string;
  events: JsEvent[];
}

export interface JsCantonError {
  code: string;
  cause: string;
  errorCategory: number;
  context: Record<string, string>;
  definiteAnswer?: boolean;
}

export const SYNCHRONIZER = 'p2tui-embedded::1220';

/** A template's package: the embedded ledger has names only, so the name is also its representative package id. */
export const packageOf = (templateId: string): string => templateId.replace(/^#/, '').split(':')[0] ?? '';

export function toJsTransaction(tx: LedgerTransaction): JsTransaction {
  return {
    updateId: tx.updateId,
    commandId: tx.commandId,
    workflowId: tx.workflowId ?? '',
    offset: tx.offset,
    effectiveAt: tx.effectiveAt,
    recordTime: tx.effectiveAt,
    synchronizerId: SYNCHRONIZER,
    events: tx.events.map((e) => toJsEvent(e, tx.offset, tx.effectiveAt)),
  };
}

// acsDelta: whether the event would be in an ACS_DELTA stream (a creation; an exercise only when it archives).
function toJsEvent(e: LedgerEvent, offset: number, effectiveAt: string): JsEvent {
  switch (e.kind) {
    case 'created':
      return {
        CreatedEvent: {
          offset,
          nodeId: e.nodeId,
          contractId: e.contractId,
          templateId: e.templateId,
          createArgument: e.payload,
          signatories: [...e.signatories],
          observers: [...e.observers],
          witnessParties: [...e.signatories, ...e.observers],
          packageName: packageOf(e.templateId),
          createdAt: effectiveAt,
          representativePackageId: packageOf(e.templateId),
          acsDelta: true,
        },
      };
    case 'archived':
      return {
        ArchivedEvent: {
          offset,
          nodeId: e.nodeId,
          contractId: e.contractId,
          templateId: e.templateId,
          witnessParties: [...e.stakeholders],
          packageName: packageOf(e.templateId),
        },
      };
    case 'exercised':
      return {
        ExercisedEvent: {
          offset,
          nodeId: e.nodeId,
          contractId: e.contractId,
          templateId: e.templateId,
          choice: e.choice,
          choiceArgument: e.arg,
          actingParties: [...e.actingParties],
          consuming: e.consuming,
          lastDescendantNodeId: e.lastDescendantNodeId,
          exerciseResult: e.result,
          witnessParties: [...e.stakeholders],
          packageName: packageOf(e.templateId),
          acsDelta: e.consuming,
        },
      };
  }
}

export function fromJsTransaction(tx: JsTransaction): LedgerTransaction {
  return {
    updateId: tx.updateId,
    commandId: tx.commandId,
    workflowId: tx.workflowId === '' ? null : tx.workflowId,
    offset: tx.offset,
    effectiveAt: tx.effectiveAt,
    events: tx.events.map((e): LedgerEvent => {
      if ('CreatedEvent' in e) {
        const c = e.CreatedEvent;
        return {
          kind: 'created',
          nodeId: c.nodeId,
          contractId: c.contractId,
          templateId: c.templateId,
          payload: c.createArgument,
          signatories: c.signatories,
          observers: c.observers,
        };
      }
      if ('ArchivedEvent' in e) {
        const a = e.ArchivedEvent;
        return {
          kind: 'archived',
          nodeId: a.nodeId,
          contractId: a.contractId,
          templateId: a.templateId,
          stakeholders: a.witnessParties,
        };
      }
      const x = e.ExercisedEvent;
      return {
        kind: 'exercised',
        nodeId: x.nodeId,
        contractId: x.contractId,
        templateId: x.templateId,
        choice: x.choice,
        arg: x.choiceArgument,
        actingParties: x.actingParties,
        consuming: x.consuming,
        lastDescendantNodeId: x.lastDescendantNodeId,
        result: x.exerciseResult,
        stakeholders: x.witnessParties,
      };
    }),
  };
}

/** HTTP status and Canton error category for each refusal (Canton's ids are the codes). */
export const ERROR_STATUS: Readonly<Record<LedgerErrorCode, { status: number; category: number }>> = {
  DUPLICATE_COMMAND: { status: 409, category: 10 },
  CONTRACT_NOT_FOUND: { status: 404, category: 11 },
  TEMPLATE_PRECONDITION_VIOLATED: { status: 400, category: 8 },
  DAML_AUTHORIZATION_ERROR: { status: 400, category: 8 },
  INTERPRETATION_ERROR: { status: 400, category: 8 },
  PARTY_NOT_KNOWN: { status: 404, category: 11 },
  UNKNOWN_TEMPLATE: { status: 404, category: 11 },
  AUDIT_CHAIN_BROKEN: { status: 503, category: 1 },
};
