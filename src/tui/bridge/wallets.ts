import type { AuditReport } from '../../ledger/types.ts';
import type { SessionProjection } from '../projection.ts';
import type { LedgerPaneState } from '../state.ts';
import type { BridgeHost } from './host.ts';

/**
 * Keeps the Wallets pane current: the balances of the open session's agents, read again whenever the ledger's end
 * moves (a payment here, or in another process) or an agent joins the session. Returns a function that reads them
 * again at once (the pane changed what it shows).
 */
export function followWallets(host: BridgeHost, projection: SessionProjection, signal: AbortSignal): () => void {
  const wallets = host.app.wallets;
  let seen = '';
  let reading = false;
  let chain: LedgerPaneState['chain'] = null;
  const read = async (): Promise<void> => {
    if (signal.aborted || host.engine.store.isClosed || reading) return;
    reading = true;
    try {
      const state = host.store.get();
      const agents = [...new Set([...projection.conversations.values()].map((c) => c.agent))].sort();
      const key = `${await wallets.ledger.ledgerEnd()}\n${agents.join(',')}\n${state.ledger.view}\n${state.ledger.verifying}`;
      if (key === seen) return;
      seen = key;
      const rows: { agent: string; balance: string; locked: string }[] = [];
      const recent = new Map<string, LedgerPaneState['recent'][number]>();
      for (const a of agents) {
        if (!(await wallets.has(a))) continue;
        const v = await wallets.balance(a);
        rows.push({ agent: a, balance: v.balance, locked: v.locked });
        for (const l of await wallets.history(a, 6))
          recent.set(`${l.offset}:${l.transferId}:${l.to}`, {
            offset: l.offset,
            from: l.from,
            to: l.to,
            amount: l.amount,
            reason: l.reason,
          });
      }
      // The chain: once per opening, the newest full verification's verdict and the updates since (cheap); the
      // whole chain when asked (v). A payment refused later for a broken chain says so itself.
      if (state.ledger.verifying && wallets.ledger.verifyChain !== undefined)
        chain = { ...summary(await wallets.ledger.verifyChain()), full: true };
      else if (chain === null && wallets.ledger.chainStatus !== undefined)
        chain = { ...summary(await wallets.ledger.chainStatus()), full: false };
      else if (chain !== null && chain.ok && wallets.ledger.chainStatus !== undefined) {
        // New updates since: the head moves on (their links are checked as they are written).
        const now = await wallets.ledger.chainStatus();
        chain = { ...summary(now), full: chain.full && now.ok };
      }
      const trail =
        state.ledger.view === 'trail' && wallets.ledger.auditTrail !== undefined
          ? (await wallets.ledger.auditTrail(50)).map((t) => ({
              offset: t.offset,
              hash: t.hash,
              prevHash: t.prevHash,
              command: t.commandId,
              at: t.effectiveAt,
            }))
          : [];
      const shownChain = chain;
      const broken = chain === null || chain.ok ? null : chain.reason;
      host.store.set(
        (s) =>
          s.open === projection
            ? {
                ...s,
                wallets: rows,
                ledgerBroken: broken,
                ledger: {
                  ...s.ledger,
                  recent: [...recent.values()].sort((x, y) => y.offset - x.offset).slice(0, 8),
                  chain: shownChain,
                  trail,
                  verifying: false,
                },
              }
            : s,
        true,
      );
    } catch {
      // A busy database or an unreachable participant: the next tick reads again.
    } finally {
      reading = false;
    }
  };
  void read();
  // Every second, and at once when the pane asks (the trail view toggled, a full verification requested).
  const timer = host.app.clock.interval(() => void read(), 1_000);
  signal.addEventListener('abort', () => timer.cancel(), { once: true });
  return () => void read();
}

/** The chain's report as the Wallets pane shows it. */
function summary(report: AuditReport): Omit<NonNullable<LedgerPaneState['chain']>, 'full'> {
  return {
    ok: report.ok,
    entries: report.entries,
    head: report.head?.hash ?? null,
    reason: report.ok ? null : `offset ${report.firstBad ?? '?'}: ${report.reason ?? ''}`,
  };
}
