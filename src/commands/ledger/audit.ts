import { storageFailureOf } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { AuditReport } from '../../ledger/types.ts';
import type { WalletService } from '../../ledger/wallets/service.ts';
import { defineCommand } from '../define.ts';
import { paint, table } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { walletService } from './service.ts';

/** Looking over the whole ledger: its audit chain, every wallet and escrow, and the payment figures. */

export const ledgerAuditCommand = defineCommand({
  path: ['ledger', 'audit'],
  summary:
    "The ledger's audit chain: its mode (keyed or plain), its head, and with --verify SQLite's integrity check (exit 5) " +
    "and every link, MAC and transfer's value conservation recomputed (exit 1 naming the first altered update)",
  options: {
    verify: {
      type: 'boolean',
      description:
        "Check the database file (SQLite's integrity check) and recompute every link, MAC and value conservation " +
        '(the seal and the updates since the last verdict otherwise)',
    },
  },
  async run(ctx, input) {
    const service = await walletService(ctx);
    const ledger = service.ledger;
    const verify = input.options.verify;
    if (ledger.verifyChain === undefined) {
      const note =
        'the wallets are on a Canton participant, which keeps its own integrity; the hash chain audits the embedded ledger';
      if (ctx.output.json) return { exitCode: EXIT.ok, json: { backend: service.ledger.backend, ok: true, note } };
      ctx.output.line(note);
      return { exitCode: EXIT.ok };
    }
    // A damaged file can hold a chain whose every link verifies over rows SQLite cannot all read: check the file first.
    if (verify) (await ctx.store()).assertIntact();
    // Without --verify: the head, and the updates since the newest full verification; with it: every link again.
    const report = verify || ledger.chainStatus === undefined ? await ledger.verifyChain() : await ledger.chainStatus();
    const exitCode = report.ok ? EXIT.ok : EXIT.failed;
    if (ctx.output.json) return { exitCode, json: { ...report } as JsonValue };
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
