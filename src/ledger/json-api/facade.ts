import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { messageOf } from '../../core/errors.ts';
import type { EmbeddedLedger } from '../embedded/ledger.ts';
import { TEMPLATE_DEFS } from '../templates.ts';
import { LedgerError, type Command } from '../types.ts';
import { parseRequest, type EventFormat, type RequestBody, type Route } from './requests.ts';
import { ERROR_STATUS, toJsTransaction, type JsCantonError, type JsCommand } from './wire.ts';

/** Request bodies above this size are refused (413) before they are read whole. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** A request body that does not parse: answered 400 INVALID_ARGUMENT naming the field. */
class InvalidRequest extends Error {}

/**
 * `p2tui ledger serve`: the embedded ledger over HTTP, speaking the subset of the JSON Ledger API v2 that the
 * Canton adapter uses, so the adapter's contract tests run over real HTTP here, and a client written for a Canton
 * participant can be pointed at p2tui. No auth (like a sandbox without an auth service); bind it to localhost.
 */
export function serveLedger(ledger: EmbeddedLedger): Server {
  return createServer((req, res) => {
    void handle(ledger, req, res).catch((error: unknown) =>
      send(res, 500, cantonError('INTERNAL', messageOf(error), 1)),
    );
  });
}

async function handle(ledger: EmbeddedLedger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  let body: unknown;
  try {
    body = req.method === 'POST' ? await readJson(req) : undefined;
  } catch (error) {
    if (error instanceof TooLarge) return send(res, 413, cantonError('INVALID_ARGUMENT', error.message, 8));
    return send(res, 400, cantonError('INVALID_ARGUMENT', `the body is not JSON: ${messageOf(error)}`, 8));
  }
  const bodyOf = <R extends Route>(r: R): RequestBody<R> => {
    const parsed = parseRequest(r, body);
    if (!parsed.ok) throw new InvalidRequest(parsed.error);
    return parsed.body;
  };
  try {
    switch (route) {
      case 'GET /livez':
      case 'GET /readyz':
        return send(res, 200, {});
      case 'GET /v2/version':
        return send(res, 200, { version: '3.4-p2tui-embedded', features: { userManagement: { supported: false } } });
      case 'GET /v2/state/ledger-end':
        return send(res, 200, { offset: await ledger.ledgerEnd() });
      case 'GET /v2/parties': {
        const filter = url.searchParams.get('filter-party');
        const parties = (await ledger.parties()).filter(
          (p) => filter === null || p.party === filter || p.party.startsWith(`${filter}::`),
        );
        return send(res, 200, {
          partyDetails: parties.map((p) => ({
            party: p.party,
            isLocal: true,
            localMetadata: { annotations: {} },
            identityProviderId: '',
          })),
        });
      }
      case 'POST /v2/parties': {
        const hint = bodyOf(route).partyIdHint;
        return send(res, 200, {
          partyDetails: {
            party: await ledger.allocateParty(hint),
            isLocal: true,
            localMetadata: { annotations: {} },
            identityProviderId: '',
          },
        });
      }
      case 'POST /v2/commands/submit-and-wait-for-transaction': {
        const { commands } = bodyOf(route);
        // One user on the embedded ledger: a client's userId does not change how commands deduplicate here.
        const tx = await ledger.submit(
          commands.commands.map((c) => toCommand(c as JsCommand)),
          {
            commandId: commands.commandId,
            actAs: commands.actAs,
            ...(commands.workflowId === undefined || commands.workflowId === ''
              ? {}
              : { workflowId: commands.workflowId }),
          },
        );
        return send(res, 200, { transaction: toJsTransaction(tx) });
      }
      case 'POST /v2/state/active-contracts': {
        const filters = filtersOf(bodyOf(route).eventFormat);
        const contracts = (
          await Promise.all(filters.map(({ party, templates }) => ledger.activeContracts(party, templates)))
        ).flat();
        const seen = new Set<string>();
        return send(
          res,
          200,
          contracts
            .filter((c) => !seen.has(c.contractId) && seen.add(c.contractId))
            .map((c) => ({
              workflowId: '',
              contractEntry: {
                JsActiveContract: {
                  createdEvent: {
                    offset: c.createdOffset,
                    nodeId: 0,
                    contractId: c.contractId,
                    templateId: c.templateId,
                    createArgument: c.payload,
                    signatories: c.signatories,
                    observers: c.observers,
                    witnessParties: [...c.signatories, ...c.observers],
                    packageName: c.templateId.replace(/^#/, '').split(':')[0],
                  },
                  synchronizerId: 'p2tui-embedded::1220',
                  reassignmentCounter: 0,
                },
              },
            })),
        );
      }
      case 'POST /v2/updates': {
        const request = bodyOf(route);
        const begin = request.beginExclusive ?? 0;
        const end = request.endInclusive;
        const parties = filtersOf(request.updateFormat?.includeTransactions?.eventFormat).map((f) => f.party);
        const party = parties.length === 1 ? parties[0]! : '*';
        const limit = Number(url.searchParams.get('limit') ?? '1000');
        const txs = (await ledger.updates(party, { afterOffset: begin, limit })).filter(
          (tx) => end === undefined || tx.offset <= end,
        );
        return send(
          res,
          200,
          txs.map((tx) => ({ update: { Transaction: { value: toJsTransaction(tx) } } })),
        );
      }
      case 'POST /v2/updates/update-by-id': {
        const request = bodyOf(route);
        const tx = await ledger.updateById(request.updateId);
        if (tx === undefined)
          return send(
            res,
            404,
            cantonError('UPDATE_NOT_FOUND', `no update ${request.updateId} visible to the requesting parties`, 11),
          );
        const parties = filtersOf(request.updateFormat?.includeTransactions?.eventFormat).map((f) => f.party);
        const visible = parties.includes('*')
          ? tx
          : {
              ...tx,
              events: tx.events.filter((e) =>
                parties.some((p) =>
                  (e.kind === 'created' ? [...e.signatories, ...e.observers] : e.stakeholders).includes(p),
                ),
              ),
            };
        return send(res, 200, { update: { Transaction: { value: toJsTransaction(visible) } } });
      }
      case 'POST /v2/commands/completions': {
        const request = bodyOf(route);
        const limit = Number(url.searchParams.get('limit') ?? '1000');
        const done = await ledger.completions(request.parties ?? [], request.beginExclusive ?? 0, limit);
        return send(
          res,
          200,
          done.map((c) => ({
            completionResponse: {
              Completion: {
                value: {
                  commandId: c.commandId,
                  updateId: c.updateId,
                  actAs: c.actAs,
                  userId: request.userId ?? 'p2tui',
                  status: { code: 0, message: '', details: [] },
                  offset: c.offset,
                  synchronizerTime: { synchronizerId: 'p2tui-embedded::1220' },
                },
              },
            },
          })),
        );
      }
      default:
        return send(res, 404, cantonError('NOT_FOUND', `${route} is not served by p2tui's ledger facade`, 11));
    }
  } catch (error) {
    if (error instanceof InvalidRequest) return send(res, 400, cantonError('INVALID_ARGUMENT', error.message, 8));
    if (error instanceof LedgerError) {
      const { status, category } = ERROR_STATUS[error.ledgerCode];
      return send(res, status, {
        ...cantonError(error.ledgerCode, error.message.replace(`${error.ledgerCode}: `, ''), category),
        context: Object.fromEntries(Object.entries(error.details).map(([k, v]) => [k, String(v)])),
      });
    }
    return send(res, 400, cantonError('INVALID_ARGUMENT', messageOf(error), 8));
  }
}

function toCommand(c: JsCommand): Command {
  if ('CreateCommand' in c)
    return { kind: 'create', templateId: c.CreateCommand.templateId, args: c.CreateCommand.createArguments };
  if ('ExerciseCommand' in c)
    return {
      kind: 'exercise',
      templateId: c.ExerciseCommand.templateId,
      contractId: c.ExerciseCommand.contractId,
      choice: c.ExerciseCommand.choice,
      arg: c.ExerciseCommand.choiceArgument,
    };
  throw new Error(
    `unsupported command ${Object.keys(c as object).join(', ')} (the facade serves CreateCommand and ExerciseCommand)`,
  );
}

/** The parties ('*' for filtersForAnyParty) and template ids of an `eventFormat` (TemplateFilter or WildcardFilter). */
function filtersOf(format: EventFormat | undefined): { party: string; templates: string[] }[] {
  const templatesOf = (filter: NonNullable<EventFormat['filtersForAnyParty']>): string[] =>
    (filter.cumulative ?? []).flatMap((f) => {
      const id = f.identifierFilter;
      if (id?.TemplateFilter !== undefined) return [id.TemplateFilter.value.templateId];
      return id?.WildcardFilter !== undefined ? [...TEMPLATE_DEFS.keys()] : [];
    });
  const byParty = Object.entries(format?.filtersByParty ?? {}).map(([party, filter]) => ({
    party,
    templates: templatesOf(filter),
  }));
  return format?.filtersForAnyParty === undefined
    ? byParty
    : [...byParty, { party: '*', templates: templatesOf(format.filtersForAnyParty) }];
}

function cantonError(code: string, cause: string, category: number): JsCantonError {
  return { code, cause, errorCategory: category, context: {}, definiteAnswer: true };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

class TooLarge extends Error {}

/** The body as JSON, refused past MAX_BODY_BYTES (a client cannot make the server hold an endless body). */
function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new TooLarge(`the request body is over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        const raw = Buffer.concat(chunks).toString('utf8');
        resolve(raw === '' ? {} : JSON.parse(raw));
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}
