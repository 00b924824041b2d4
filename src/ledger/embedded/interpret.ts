import { sha256 } from '../../core/hash.ts';
import type { ContractRow } from '../../store/ledger.ts';
import { OPERATOR_HINT, TEMPLATE_DEFS, type ChoiceContext } from '../templates.ts';
import {
  LedgerError,
  type Command,
  type ContractId,
  type LedgerEvent,
  type PartyId,
  type TemplateId,
} from '../types.ts';

/** A contract as a command sees it: stored and still active, or created earlier in the same update. */
export interface Live {
  readonly templateId: TemplateId;
  readonly payload: Record<string, unknown>;
  readonly signatories: readonly PartyId[];
  readonly observers: readonly PartyId[];
}

/** What an update does: its events, the contracts it created and those it archived (both can hold the same one). */
export interface Interpretation {
  readonly events: LedgerEvent[];
  readonly created: Map<ContractId, Live>;
  readonly archived: Set<ContractId>;
}

/**
 * Runs the commands of one update as `actAs`: creates and choices by their templates, with Daml's authorization
 * rules, producing its events and the contracts created and archived. Nothing is stored here: `activeContract` reads
 * a stored contract that is still active (vouched for before it is used), and a refusal throws. Every template is
 * the operator's (`issuer`, the party of OPERATOR_HINT): a contract naming another operator is refused, so a party
 * acting as itself cannot issue its own money, whatever token it holds.
 */
export function interpret(
  commands: readonly Command[],
  actAs: readonly PartyId[],
  updateId: string,
  activeContract: (cid: ContractId) => ContractRow | undefined,
  issuer: PartyId | undefined,
): Interpretation {
  const events: LedgerEvent[] = [];
  const created = new Map<ContractId, Live>();
  const archived = new Set<ContractId>();
  let nextNode = 0;
  const lookup = (cid: ContractId): Live | undefined => {
    if (archived.has(cid)) return undefined;
    const here = created.get(cid);
    if (here !== undefined) return here;
    const row = activeContract(cid);
    if (row === undefined) return undefined;
    return {
      templateId: row.template_id,
      payload: JSON.parse(row.payload) as Record<string, unknown>,
      signatories: JSON.parse(row.signatories) as string[],
      observers: JSON.parse(row.observers) as string[],
    };
  };
  const stakeholders = (c: Live): PartyId[] => [...new Set([...c.signatories, ...c.observers])];
  const notFound = (cid: ContractId, templateId: TemplateId): LedgerError =>
    new LedgerError(
      'CONTRACT_NOT_FOUND',
      `contract ${cid} (${templateId.split(':').at(-1)}) is not active, or not visible to the submitting parties`,
      { contractId: cid },
    );
  const authorize = (needed: readonly PartyId[], authorizers: ReadonlySet<PartyId>, what: string): void => {
    const missing = needed.filter((p) => !authorizers.has(p));
    if (missing.length > 0)
      throw new LedgerError(
        'DAML_AUTHORIZATION_ERROR',
        `${what} needs the authority of ${missing.join(', ')}, which the submission does not have`,
        { missing },
      );
  };

  const create = (
    templateId: TemplateId,
    raw: Record<string, unknown>,
    authorizers: ReadonlySet<PartyId>,
  ): ContractId => {
    const def = TEMPLATE_DEFS.get(templateId);
    if (def === undefined) throw new LedgerError('UNKNOWN_TEMPLATE', `no template ${templateId} on this ledger`);
    const parsed = def.payload.safeParse(raw);
    if (!parsed.success)
      throw new LedgerError(
        'INTERPRETATION_ERROR',
        `create ${templateId}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const payload = parsed.data;
    const violated = def.ensure(payload);
    if (violated !== undefined)
      throw new LedgerError('TEMPLATE_PRECONDITION_VIOLATED', `${templateId.split(':').at(-1)}: ${violated}`);
    const signatories = def.signatories(payload);
    authorize(signatories, authorizers, `creating ${templateId.split(':').at(-1)}`);
    if (issuer === undefined || payload['operator'] !== issuer)
      throw new LedgerError(
        'DAML_AUTHORIZATION_ERROR',
        `only this ledger's operator (${issuer ?? `${OPERATOR_HINT}, not allocated yet`}) may issue ` +
          `${templateId.split(':').at(-1)}; this one names ${String(payload['operator'])}`,
        { operator: String(payload['operator']) },
      );
    const nodeId = nextNode++;
    const contractId = `00${sha256(`${updateId}:${nodeId}`)}`;
    const live: Live = {
      templateId,
      payload,
      signatories,
      observers: def.observers(payload).filter((p) => !signatories.includes(p)),
    };
    created.set(contractId, live);
    events.push({
      kind: 'created',
      nodeId,
      contractId,
      templateId,
      payload,
      signatories: live.signatories,
      observers: live.observers,
    });
    return contractId;
  };

  const exercise = (
    templateId: TemplateId,
    cid: ContractId,
    choiceName: string,
    rawArg: Record<string, unknown>,
    authorizers: ReadonlySet<PartyId>,
    submitters?: readonly PartyId[],
  ): unknown => {
    const contract = lookup(cid);
    // The submitters must see the contract: a stakeholder of it (Canton reports an unknown one the same way).
    if (
      contract === undefined ||
      contract.templateId !== templateId ||
      (submitters !== undefined && !stakeholders(contract).some((p) => submitters.includes(p)))
    ) {
      throw notFound(cid, templateId);
    }
    const def = TEMPLATE_DEFS.get(templateId)!;
    const choice = def.choices[choiceName];
    if (choice === undefined)
      throw new LedgerError(
        'INTERPRETATION_ERROR',
        `template ${templateId} has no choice ${choiceName} (it has ${Object.keys(def.choices).join(', ') || 'none'})`,
      );
    const parsedArg = choice.arg.safeParse(rawArg);
    if (!parsedArg.success)
      throw new LedgerError(
        'INTERPRETATION_ERROR',
        `${choiceName}: ${parsedArg.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const arg = parsedArg.data;
    const controllers = choice.controllers(contract.payload, arg);
    authorize(controllers, authorizers, `exercising ${choiceName}`);
    const nodeId = nextNode++;
    const at = events.length;
    events.push({
      kind: 'exercised',
      nodeId,
      contractId: cid,
      templateId,
      choice: choiceName,
      arg,
      actingParties: controllers,
      consuming: choice.consuming,
      lastDescendantNodeId: nodeId,
      result: null,
      stakeholders: stakeholders(contract),
    });
    // A consuming choice archives its contract before the body runs: the body cannot spend it twice.
    if (choice.consuming) archived.add(cid);
    const bodyAuthority = new Set([...contract.signatories, ...controllers]);
    const ctx: ChoiceContext = {
      create: (t, p) => create(t, p, bodyAuthority),
      fetch: (other, t) => {
        const c = lookup(other);
        if (c === undefined || c.templateId !== t || !stakeholders(c).some((p) => bodyAuthority.has(p)))
          throw notFound(other, t);
        return c.payload;
      },
      archive: (other, t) => {
        const c = lookup(other);
        if (c === undefined || c.templateId !== t) throw notFound(other, t);
        authorize(c.signatories, bodyAuthority, `archiving ${t.split(':').at(-1)}`);
        const n = nextNode++;
        events.push({
          kind: 'exercised',
          nodeId: n,
          contractId: other,
          templateId: t,
          choice: 'Archive',
          arg: {},
          actingParties: [...c.signatories],
          consuming: true,
          lastDescendantNodeId: n,
          result: null,
          stakeholders: stakeholders(c),
        });
        archived.add(other);
      },
      assert: (condition, message) => {
        if (!condition) throw new LedgerError('INTERPRETATION_ERROR', message);
      },
    };
    const result = choice.run(ctx, { contractId: cid, payload: contract.payload }, arg);
    const node = events[at] as Extract<LedgerEvent, { kind: 'exercised' }>;
    events[at] = { ...node, lastDescendantNodeId: nextNode - 1, result: result ?? null };
    return result;
  };

  const top = new Set(actAs);
  for (const command of commands) {
    if (command.kind === 'create') create(command.templateId, { ...command.args }, top);
    else exercise(command.templateId, command.contractId, command.choice, { ...command.arg }, top, actAs);
  }
  return { events, created, archived };
}
