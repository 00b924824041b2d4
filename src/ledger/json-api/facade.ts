import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { messageOf } from '../../core/errors.ts';
import type { EmbeddedLedger } from '../embedded/ledger.ts';
import { TEMPLATE_DEFS } from '../templates.ts';
import { LedgerError, type Command } from '../types.ts';
import { parseRequest, type EventFormat, type RequestBody, type Route } from './requests.ts';
import { isOperatorToken, mayActAs, tokenOf, type ServeToken } from './tokens.ts';
import type { FacadeResponses, PartyDetailsOut } from './shapes.ts';
import { ERROR_STATUS, packageOf, SYNCHRONIZER, toJsTransaction, type JsCantonError, type JsCommand } from './wire.ts';

/** Request bodies above this size are refused (413) before they are read whole (a submit of 1,000 commands fits). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A request body that does not parse: answered 400 INVALID_ARGUMENT naming the field. */
class InvalidRequest extends Error {}

/** A request whose token may not act as (or read for) a party it names: answered 403 PERMISSION_DENIED. */
class Forbidden extends Error {}

/** What `ledger serve` checks before a request reaches the ledger. */
export interface ServeOptions {
  /** The bearer tokens accepted (see tokens.ts): every route but the health checks needs one. */
  readonly tokens: readonly ServeToken[];
  /** Bound to a loopback address: a Host header naming anything else is refused (DNS rebinding). */
  readonly loopback: boolean;
}

/** Routes a load balancer or `ledger sandbox` asks without a token: they say nothing about the ledger's content. */
const HEALTH = new Set(['GET /livez', 'GET /readyz', 'GET /v2/version']);

/** A loopback address or name (what `--host` binds to, or a Host header names without its port). */
export function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether a Host header names this machine's loopback (with or without a port): a browser's own request to it. */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackName(host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, ''));
}

/**
 * `p2tui ledger serve`: the embedded ledger over HTTP, speaking the subset of the JSON Ledger API v2 that the
 * Canton adapter uses, so the adapter's contract tests run over real HTTP here, and a client written for a Canton
 * participant can be pointed at p2tui. Like a participant with an auth service: every request carries a bearer
 * token naming the parties it may act as. Web pages are kept out twice over: a request with an `Origin` (any
 * browser's cross-site request) or without `Content-Type: application/json` (a form or a no-preflight text/plain
 * POST) is refused, and on loopback so is a Host that is not a loopback name (a rebound DNS name).
 */
export function serveLedger(ledger: EmbeddedLedger, options: ServeOptions): Server {
  return createServer((req, res) => {
    void handle(ledger, options, req, res).catch((error: unknown) =>
      send(res, 500, cantonError('INTERNAL', messageOf(error), 1)),
    );
  });
}

/** Why a request is refused before its body is read (status and Canton-shaped error), or undefined. */
function refusal(
  options: ServeOptions,
  req: IncomingMessage,
  route: string,
): { status: number; error: JsCantonError; headers?: Record<string, string> } | undefined {
  if (req.headers.origin !== undefined)
    return {
      status: 403,
      error: cantonError('PERMISSION_DENIED', 'requests from web pages (with an Origin header) are refused', 7),
    };
  if (options.loopback && !isLoopbackHost(req.headers.host ?? ''))
    return {
      status: 403,
      error: cantonError(
        'PERMISSION_DENIED',
        `Host '${req.headers.host ?? ''}' is not a loopback name; this server is bound to loopback (DNS rebinding is refused)`,
        7,
      ),
    };
  if (HEALTH.has(route)) return undefined;
  if (tokenOf(options.tokens, req.headers.authorization) === undefined)
    return {
      status: 401,
      error: cantonError('UNAUTHENTICATED', 'a valid "Authorization: Bearer <token>" header is required', 6),
      headers: { 'www-authenticate': 'Bearer realm="p2tui-ledger"' },
    };
  if (req.method === 'POST') {
    // No Content-Type at all is read as JSON: Canton's own client (core-ledger-client 1.8) sends none, and past the
    // token check above a web page cannot be the sender (a bearer header makes a browser ask first, unanswered).
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json')
      return {
        status: 415,
        error: cantonError('INVALID_ARGUMENT', `Content-Type must be application/json, got '${type}'`, 8),
      };
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES)
      return {
        status: 413,
        error: cantonError('INVALID_ARGUMENT', `the request body is over ${MAX_BODY_BYTES} bytes`, 8),
      };
  }
  return undefined;
}

async function handle(
  ledger: EmbeddedLedger,
  options: ServeOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // One party by id (`/v2/parties/{party}`) is one route, whatever the party.
  const path = /^\/v2\/parties\/[^/]+$/.test(url.pathname) ? '/v2/parties/{party}' : url.pathname;
  const route = `${req.method ?? 'GET'} ${path}`;
  const refused = refusal(options, req, route);
  if (refused !== undefined) return send(res, refused.status, refused.error, refused.headers);
  // Present on every route past the health checks (refusal answered 401 otherwise).
  const token = tokenOf(options.tokens, req.headers.authorization);
  const allow = (parties: readonly string[], what: string): void => {
    if (token === undefined) return;
    const denied = parties.filter((p) => (p === '*' ? !isOperatorToken(token) : !mayActAs(token, p)));
    if (denied.length > 0)
      throw new Forbidden(
        `the token '${token.name}' may not ${what} ${denied.map((p) => (p === '*' ? 'every party' : p)).join(', ')}`,
      );
  };
  let body: unknown;
  try {
    body = req.method === 'POST' ? await readJson(req) : undefined;
  } catch (error) {
    if (error instanceof TooLarge)
      return send(res, 413, cantonError('INVALID_ARGUMENT', error.message, 8), { connection: 'close' });
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
        return ok(res, route, VERSION);
      case 'GET /v2/state/ledger-end':
        return ok(res, route, { offset: await ledger.ledgerEnd() });
      case 'GET /v2/state/connected-synchronizers':
        return ok(res, route, {
          connectedSynchronizers: [
            {
              synchronizerAlias: 'p2tui-embedded',
              synchronizerId: SYNCHRONIZER,
              permission: 'PARTICIPANT_PERMISSION_SUBMISSION',
            },
          ],
        });
      case 'GET /v2/parties/{party}': {
        const wanted = decodeURIComponent(url.pathname.slice('/v2/parties/'.length));
        const found = (await ledger.parties()).filter((p) => p.party === wanted);
        return ok(res, route, { partyDetails: found.map((p) => partyDetails(p.party)) });
      }
      case 'GET /v2/parties': {
        const filter = url.searchParams.get('filter-party');
        const parties = (await ledger.parties()).filter(
          (p) => filter === null || p.party === filter || p.party.startsWith(`${filter}::`),
        );
        return ok(res, route, { partyDetails: parties.map((p) => partyDetails(p.party)) });
      }
      case 'POST /v2/parties': {
        const hint = bodyOf(route).partyIdHint;
        allow(['*'], 'allocate parties for');
        return ok(res, route, { partyDetails: partyDetails(await ledger.allocateParty(hint)) });
      }
      case 'POST /v2/commands/submit-and-wait-for-transaction': {
        const { commands } = bodyOf(route);
        allow(commands.actAs, 'act as');
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
        return ok(res, route, { transaction: toJsTransaction(tx) });
      }
      case 'POST /v2/state/active-contracts': {
        const filters = filtersOf(bodyOf(route).eventFormat);
        allow(
          filters.map((f) => f.party),
          'read for',
        );
        const contracts = (
          await Promise.all(filters.map(({ party, templates }) => ledger.activeContracts(party, templates)))
        ).flat();
        const seen = new Set<string>();
        const createdAt = ledger.effectiveAt(contracts.map((c) => c.createdOffset));
        return ok(
          res,
          route,
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
                    signatories: [...c.signatories],
                    observers: [...c.observers],
                    witnessParties: [...c.signatories, ...c.observers],
                    packageName: packageOf(c.templateId),
                    createdAt: createdAt.get(c.createdOffset) ?? '',
                    representativePackageId: packageOf(c.templateId),
                    acsDelta: true,
                  },
                  synchronizerId: SYNCHRONIZER,
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
        allow([party], 'read for');
        const limit = Number(url.searchParams.get('limit') ?? '1000');
        const txs = (await ledger.updates(party, { afterOffset: begin, limit })).filter(
          (tx) => end === undefined || tx.offset <= end,
        );
        return ok(
          res,
          route,
          txs.map((tx) => ({ update: { Transaction: { value: toJsTransaction(tx) } } })),
        );
      }
      case 'POST /v2/updates/update-by-id': {
        const request = bodyOf(route);
        const wanted = filtersOf(request.updateFormat?.includeTransactions?.eventFormat).map((f) => f.party);
        allow(wanted.length === 0 ? ['*'] : wanted, 'read for');
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
        return ok(res, route, { update: { Transaction: { value: toJsTransaction(visible) } } });
      }
      case 'POST /v2/commands/completions': {
        const request = bodyOf(route);
        allow(request.parties ?? [], 'read for');
        const limit = Number(url.searchParams.get('limit') ?? '1000');
        const done = await ledger.completions(request.parties ?? [], request.beginExclusive ?? 0, limit);
        return ok(
          res,
          route,
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
                  synchronizerTime: { synchronizerId: SYNCHRONIZER, recordTime: c.recordTime },
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
    if (error instanceof Forbidden) return send(res, 403, cantonError('PERMISSION_DENIED', error.message, 7));
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

/**
 * A 200 answer whose body is typed as the route's response in shapes.ts (checked against Canton's OpenAPI types by
 * test/ledger/canton-conformance.test-d.ts): a field the facade adds, drops or renames is a type error.
 */
function ok<R extends Exclude<keyof FacadeResponses, 'error'>>(
  res: ServerResponse,
  _route: R,
  body: FacadeResponses[R],
): void {
  send(res, 200, body);
}

function partyDetails(party: string): PartyDetailsOut {
  return { party, isLocal: true, localMetadata: { annotations: {} }, identityProviderId: '' };
}

/**
 * The version and features: no user management, and no paging or offset checkpoints (a 0 says the facade does not
 * use them: every party, package and update asked for comes in one answer).
 */
const VERSION: FacadeResponses['GET /v2/version'] = {
  version: '3.4-p2tui-embedded',
  features: {
    experimental: {},
    userManagement: { supported: false, maxRightsPerUser: 0, maxUsersPageSize: 0 },
    partyManagement: { maxPartiesPageSize: 0 },
    offsetCheckpoint: { maxOffsetCheckpointEmissionDelay: { seconds: 0, nanos: 0 } },
    packageFeature: { maxVettedPackagesPageSize: 0 },
  },
};

function cantonError(code: string, cause: string, category: number): JsCantonError {
  return { code, cause, errorCategory: category, context: {}, definiteAnswer: true };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
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
        // Nothing more is kept: the rest is read and dropped while the 413 goes out (the connection then closes).
        req.removeAllListeners('data');
        req.resume();
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
