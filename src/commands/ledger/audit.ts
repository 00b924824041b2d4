import { storageFailureOf } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { AuditReport } from '../../ledger/types.ts';
import type { WalletService } from '../../ledger/wallets/service.ts';
import { defineCommand } from '../define.ts';
import { paint, table } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { walletService } from './service.ts';
import { UserError, suggest } from '../../core/errors.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { LEDGER_EVENT_ALIASES, LEDGER_EVENT_KINDS, type LedgerEventKind } from '../../ledger/wallets/event-kinds.ts';
import type { LedgerEventLine } from '../../ledger/wallets/events.ts';
import type { CommandContext } from '../types.ts';

/** Looking over the whole ledger: its events and audit chain, every wallet and escrow, and the payment figures. */

const AGO_UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `--since`: an ISO date or time (UTC when it names no zone), or a time ago (`90m`, `12h`, `2d`, `1w`); as ISO. */
export function parseSince(text: string, now: number): string {
  const ago = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (ago !== null) return new Date(now - Number(ago[1]) * AGO_UNITS[ago[2] as keyof typeof AGO_UNITS]).toISOString();
  const iso = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim());
  // A date or time without a zone is UTC (the ledger's times are).
  const zoned = /(?:Z|[+-]\d{2}:?\d{2})$/.test(text.trim()) || !text.includes(':') ? text.trim() : `${text.trim()}Z`;
  const ms = iso ? Date.parse(zoned.replace(' ', 'T')) : NaN;
  if (!Number.isFinite(ms))
    throw new UserError('E_USAGE', `--since '${text}' is neither an ISO time nor a time ago`, {
      hint: 'For example --since 2026-01-31, --since 2026-01-31T12:00Z, --since 12h or --since 2d (units s, m, h, d, w).',
    });
  return new Date(ms).toISOString();
}

/** `--type`: kinds, comma-separated or repeated, P2Engine's names accepted; an unknown one is refused with the nearest. */
export function parseKinds(values: readonly string[]): LedgerEventKind[] {
  const kinds = new Set<LedgerEventKind>();
  for (const word of values.flatMap((v) => v.split(',')).map((w) => w.trim().toLowerCase())) {
    if (word === '') continue;
    const kind = LEDGER_EVENT_ALIASES[word] ?? LEDGER_EVENT_KINDS.find((k) => k === word);
    if (kind === undefined) {
      const near = suggest(word, [...LEDGER_EVENT_KINDS, ...Object.keys(LEDGER_EVENT_ALIASES)]);
      throw new UserError('E_USAGE', `--type '${word}' is not a kind of ledger event`, {
        hint: `${near === undefined ? '' : `Did you mean '${near}'? `}Kinds: ${LEDGER_EVENT_KINDS.join(', ')}.`,
      });
    }
    kinds.add(kind);
  }
  return [...kinds];
}

function eventsJson(listed: boolean, events: readonly LedgerEventLine[]): { events?: JsonValue } {
  return listed ? { events: events.map((e) => ({ ...e })) } : {};
}

function printEvents(
  ctx: CommandContext,
  events: readonly LedgerEventLine[],
  since: string | undefined,
  kinds: readonly LedgerEventKind[],
): void {
  const scope = [
    ...(kinds.length === 0 ? [] : [`of kind ${kinds.join(', ')}`]),
    ...(since === undefined ? [] : [`since ${since.slice(0, 19).replace('T', ' ')} UTC`]),
  ].join(' ');
  ctx.output.line(paint(ctx.output.color, 'bold', `ledger events${scope === '' ? '' : ` ${scope}`}:`));
  if (events.length === 0) {
    ctx.output.line('  none');
    return;
  }
  for (const line of table(
    events.map((e) => [
      String(e.offset),
      e.at.slice(0, 19).replace('T', ' '),
      e.kind,
      e.from,
      e.to,
      e.amount,
      // The memo and the reference are what an agent wrote (a tool's arguments): shown, not obeyed.
      terminalText(e.reason),
      terminalText(e.reference),
    ]),
    ['offset', 'at (UTC)', 'kind', 'from', 'to', 'amount', 'reason', 'reference'],
    ctx.output.color,
  ))
    ctx.output.line(line);
}

export const ledgerAuditCommand = defineCommand({
  path: ['ledger', 'audit'],
  summary:
    "The ledger's events (wallets created, transfers, rewards, escrows; --since, --type) and its audit chain: its mode " +
    "(keyed or plain), its head, and with --verify SQLite's integrity check (exit 5) and every link, MAC and transfer's " +
    'value conservation recomputed (exit 1 naming the first altered update)',
  details:
    "As P2Engine's ledger audit, it lists the ledger's events, oldest first (the newest --limit of them), then checks " +
    'the chain. --since takes an ISO time (2026-01-31, 2026-01-31T12:00Z) or a time ago (90m, 12h, 2d, 1w). ' +
    `--type takes ${LEDGER_EVENT_KINDS.join(', ')} (comma-separated or repeated; P2Engine's transfer_executed is transfer). ` +
    'With --verify and none of --since, --type, --limit, only the chain is checked.',
  options: {
    since: { type: 'string', value: '<time>', description: 'Only events at or after this time: ISO, or ago (1h, 2d)' },
    type: {
      type: 'string',
      multiple: true,
      value: '<kind>',
      description: `Only events of these kinds (${LEDGER_EVENT_KINDS.join('|')}; comma-separated or repeated)`,
    },
    limit: {
      type: 'number',
      integer: true,
      min: 1,
      value: '<n>',
      description: 'Show the newest n events (default 50)',
    },
    verify: {
      type: 'boolean',
      description:
        "Check the database file (SQLite's integrity check) and recompute every link, MAC and value conservation " +
        '(the seal and the updates since the last verdict otherwise)',
    },
  },
  async run(ctx, input) {
    const verify = input.options.verify;
    // The filters are checked before anything is opened: a typo is a usage error, whatever the database.
    const since = input.options.since === undefined ? undefined : parseSince(input.options.since, ctx.clock.now());
    const kinds = parseKinds(input.options.type);
    const filtered = since !== undefined || kinds.length > 0 || input.options.limit !== undefined;
    const service = await walletService(ctx);
    const ledger = service.ledger;
    // --verify alone is the chain check it always was; otherwise the events come first.
    const listEvents = !verify || filtered;
    const list = async (): Promise<LedgerEventLine[]> => {
      if (!listEvents) return [];
      const { ledgerEvents } = await import('../../ledger/wallets/events.ts');
      return ledgerEvents(service, {
        ...(since === undefined ? {} : { since }),
        kinds,
        limit: input.options.limit ?? 50,
      });
    };
    if (ledger.verifyChain === undefined) {
      const note =
        'the wallets are on a Canton participant, which keeps its own integrity; the hash chain audits the embedded ledger';
      const events = await list();
      if (ctx.output.json)
        return {
          exitCode: EXIT.ok,
          json: { backend: service.ledger.backend, ok: true, note, ...eventsJson(listEvents, events) } as JsonValue,
        };
      if (listEvents) printEvents(ctx, events, since, kinds);
      ctx.output.line(note);
      return { exitCode: EXIT.ok };
    }
    // A damaged file can hold a chain whose every link verifies over rows SQLite cannot all read: check the file first.
    if (verify) (await ctx.store()).assertIntact();
    // Without --verify: the head, and the updates since the newest full verification; with it: every link again.
    const report = verify || ledger.chainStatus === undefined ? await ledger.verifyChain() : await ledger.chainStatus();
    const exitCode = report.ok ? EXIT.ok : EXIT.failed;
    const events = await list();
    if (ctx.output.json) return { exitCode, json: { ...report, ...eventsJson(listEvents, events) } as JsonValue };
    if (listEvents) {
      printEvents(ctx, events, since, kinds);
      ctx.output.line(paint(ctx.output.color, 'bold', 'audit chain (checked as well):'));
    }
    if (report.mode !== undefined) ctx.output.line(`mode: ${report.mode}`);
    if (!verify) {
      ctx.output.line(
        report.head === null
          ? 'the ledger is empty'
          : `head: offset ${report.head.offset}, hash ${report.head.hash} (${report.entries} updates)`,
      );
    }
    if (report.ok)
      ctx.output.line(
        paint(
          ctx.output.color,
          'green',
          verify
            ? `chain ok: ${report.entries} updates, every link verified`
            : 'chain ok since the last full verification (every link: --verify)',
        ),
      );
    else
      ctx.output.line(
        paint(
          ctx.output.color,
          'red',
          `chain BROKEN at offset ${report.firstBad ?? '?'}: ${report.reason}; writes are refused until the database is ` +
            'restored (or, for a lost key, p2tui ledger rekey)',
        ),
      );
    return { exitCode };
  },
});

/**
 * Every link, MAC and value conservation verified (the verdict is recorded, so writers stop on a break). A database
 * that cannot record it (read-only) keeps the quick status, said as such: it is not called a full check.
 */
async function fullAudit(
  service: WalletService,
  status: AuditReport | null,
): Promise<(AuditReport & { full: boolean }) | null> {
  if (status === null || service.ledger.verifyChain === undefined)
    return status === null ? null : { ...status, full: false };
  try {
    return { ...(await service.ledger.verifyChain()), full: true };
  } catch (error) {
    if (storageFailureOf(error)?.code !== 'E_DB_READONLY') throw error;
    return { ...status, full: false };
  }
}

export const ledgerOverviewCommand = defineCommand({
  path: ['ledger', 'overview'],
  summary: 'Every wallet, the money issued, open escrows, and the audit chain',
  async run(ctx) {
    const { decimal } = await import('../../ledger/decimal.ts');
    const service = await walletService(ctx);
    const o = await service.overview();
    const escrows = await service.escrows(undefined, 'own');
    // The quick status checks only the updates since the last full verification: an older update edited since
    // passed it, and the overview said "chain ok". The overview verifies every link (one pass, as audit --verify).
    const audit = await fullAudit(service, o.audit);
    if (ctx.output.json)
      return {
        exitCode: audit === null || audit.ok ? EXIT.ok : EXIT.failed,
        json: {
          backend: service.ledger.backend,
          wallets: o.wallets.map((w) => ({ ...w })),
          issued: o.issued,
          escrowed: o.escrowed,
          escrows: escrows.map((e) => ({ ...e })),
          ledgerEnd: o.ledgerEnd,
          audit: audit === null ? null : { ...audit },
        } as JsonValue,
      };
    for (const line of table(
      o.wallets.map((w) => [w.agent, w.balance, w.locked === '0' ? '' : w.locked, String(w.holdings)]),
      ['agent', 'balance', 'locked', 'holdings'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    ctx.output.line(
      `issued ${o.issued} · in wallets ${decimal.sum(o.wallets.map((w) => w.balance))} · in escrow ${o.escrowed} · ledger end offset ${o.ledgerEnd}`,
    );
    for (const e of escrows) ctx.output.line(`escrow ${e.reference}: ${e.payer} → ${e.payee} ${e.amount}`);
    if (audit === null)
      ctx.output.line(paint(ctx.output.color, 'gray', 'on a Canton participant (no p2tui audit chain there)'));
    else
      ctx.output.line(
        audit.ok
          ? paint(
              ctx.output.color,
              'green',
              audit.full
                ? `audit chain ok (${audit.entries} updates, every link verified)`
                : `audit chain ok since the last full verification (${audit.entries} updates; the read-only database ` +
                    'cannot record a new one)',
            )
          : paint(ctx.output.color, 'red', `audit chain BROKEN at offset ${audit.firstBad}: ${audit.reason}`),
      );
    return { exitCode: audit === null || audit.ok ? EXIT.ok : EXIT.failed };
  },
});

export const ledgerMetricsCommand = defineCommand({
  path: ['ledger', 'metrics'],
  summary: 'Payments, volume, money issued and escrows, overall and per agent',
  async run(ctx) {
    const m = await (await walletService(ctx)).metrics();
    if (ctx.output.json)
      return { exitCode: EXIT.ok, json: { ...m, agents: m.agents.map((a) => ({ ...a })) } as JsonValue };
    const escrows = `${m.escrowsOpen} open, ${m.escrowsReleased} released, ${m.escrowsRefunded} refunded`;
    ctx.output.line(
      `${m.updates} updates · ${m.payments} payments moving ${m.volume} · issued ${m.issued} · escrows: ${escrows}`,
    );
    for (const line of table(
      m.agents.map((a) => [a.agent, a.sent, a.received, String(a.payments)]),
      ['agent', 'sent', 'received', 'payments made'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

export const ledgerRekeyCommand = defineCommand({
  path: ['ledger', 'rekey'],
  summary:
    "Link the ledger's audit chain under a new key (after a lost key): verifies the plain chain and value " +
    'conservation first, and records that it happened',
  details:
    'The chain is keyed: each update has an HMAC with a key outside the database (P2TUI_LEDGER_KEY, or a 0600 file ' +
    'beside the database: .p2tui/p2tui.ledger-key). When that key is lost, or the database was made by an earlier ' +
    'p2tui while a key existed, writes are refused; rekey re-verifies every link and that every transfer conserves ' +
    'value, then writes a new key (the old file kept as .old-<time>; with P2TUI_LEDGER_KEY set, that key is used) ' +
    'and records a verdict naming both keys. It refuses a chain that does not verify.',
  async run(ctx) {
    const service = await walletService(ctx);
    const ledger = service.ledger;
    if (ledger.rekey === undefined) {
      const note =
        'the wallets are on a Canton participant, which keeps its own integrity; rekey is for the embedded ledger';
      if (ctx.output.json)
        return { exitCode: EXIT.ok, json: { backend: ledger.backend, rekeyed: false, note } as JsonValue };
      ctx.output.line(note);
      return { exitCode: EXIT.ok };
    }
    const done = await ledger.rekey();
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: {
          rekeyed: true,
          entries: done.report.entries,
          keyId: done.keyId,
          keySource: done.keySource,
          previous: done.previous,
        },
      };
    ctx.output.line(
      paint(
        ctx.output.color,
        'green',
        `rekeyed: ${done.report.entries} updates verified (plain chain and value conservation) and linked under the ` +
          `key ${done.keyId} from ${done.keySource} (previous key ${done.previous}); recorded as a verdict`,
      ),
    );
    return { exitCode: EXIT.ok };
  },
});
