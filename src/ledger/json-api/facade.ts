import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { messageOf } from '../../core/errors.ts';
import type { EmbeddedLedger } from '../embedded.ts';
import { TEMPLATE_DEFS } from '../templates.ts';
import { LedgerError, type Command } from '../types.ts';
import { ERROR_STATUS, toJsTransaction, type JsCantonError, type JsCommand } from './wire.ts';

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
  const body = req.method === 'POST' ? await readJson(req) : undefined;
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
        const hint = field(body, 'partyIdHint');
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
        const commands = (
          body as {
            commands?: {
              commands?: JsCommand[];
              commandId?: string;
              actAs?: string[];
              userId?: string;
              workflowId?: string;
            };
          }
        ).commands;
        if (
          commands?.commands === undefined ||
          typeof commands.commandId !== 'string' ||
          !Array.isArray(commands.actAs)
        ) {
          return send(
            res,
            400,
            cantonError('INVALID_ARGUMENT', 'commands.commands, commands.commandId and commands.actAs are required', 8),
          );
        }
        // One user on the embedded ledger: a client's userId does not change how commands deduplicate here.
        const tx = await ledger.submit(commands.commands.map(toCommand), {
          commandId: commands.commandId,
          actAs: commands.actAs,
          ...(commands.workflowId === undefined || commands.workflowId === ''
            ? {}
            : { workflowId: commands.workflowId }),
        });
        return send(res, 200, { transaction: toJsTransaction(tx) });
      }
      case 'POST /v2/state/active-contracts': {
        const filters = filtersOf(body);
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
        const begin = Number((body as { beginExclusive?: number }).beginExclusive ?? 0);
        const end = (body as { endInclusive?: number }).endInclusive;
        const parties = filtersOf(
          (body as { updateFormat?: { includeTransactions?: unknown } }).updateFormat?.includeTransactions,
        ).map((f) => f.party);
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
        const tx = await ledger.updateById(field(body, 'updateId'));
        if (tx === undefined)
          return send(
            res,
            404,
            cantonError(
              'UPDATE_NOT_FOUND',
              `no update ${field(body, 'updateId')} visible to the requesting parties`,
              11,
            ),
          );
        const parties = filtersOf(
          (body as { updateFormat?: { includeTransactions?: unknown } }).updateFormat?.includeTransactions,
        ).map((f) => f.party);
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
        const request = body as { parties?: string[]; beginExclusive?: number; userId?: string };
        const limit = Number(url.searchParams.get('limit') ?? '1000');
        const done = await ledger.completions(request.parties ?? [], Number(request.beginExclusive ?? 0), limit);
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
function filtersOf(body: unknown): { party: string; templates: string[] }[] {
  const format = (
    body as
      | {
          eventFormat?: {
            filtersByParty?: Record<string, { cumulative?: unknown[] }>;
            filtersForAnyParty?: { cumulative?: unknown[] };
          };
        }
      | undefined
  )?.eventFormat;
  const templatesOf = (filter: { cumulative?: unknown[] }): string[] =>
    (filter.cumulative ?? []).flatMap((f) => {
      const id = (
        f as { identifierFilter?: { TemplateFilter?: { value?: { templateId?: string } }; WildcardFilter?: unknown } }
      ).identifierFilter;
      if (id?.TemplateFilter?.value?.templateId !== undefined) return [id.TemplateFilter.value.templateId];
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

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || value === '') throw new Error(`${name} is required`);
  return value;
}

function cantonError(code: string, cause: string, category: number): JsCantonError {
  return { code, cause, errorCategory: category, context: {}, definiteAnswer: true };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      try {
        resolve(raw === '' ? {} : JSON.parse(raw));
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}
