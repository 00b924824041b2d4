/**
 * Ledger figures (issue 7), recorded in BENCHMARKS.md:
 *
 *   transfers    wallet transfers per second on the embedded ledger with the audit chain, synchronous=NORMAL and FULL
 *   http         the same through the JSON Ledger API v2 adapter against `p2tui ledger serve` (HTTP on localhost)
 *   at size      with a large ledger: a new process's first write (checks since the last verdict), a full
 *                verification, an agent's balance, its history (20 lines) and a spend check
 *
 * Run: node scripts/bench-ledger.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedger } from '../src/ledger/embedded/ledger.ts';
import { CantonJsonLedger } from '../src/ledger/json-api/client.ts';
import { serveLedger } from '../src/ledger/json-api/facade.ts';
import { checkSpend } from '../src/ledger/wallets/spend.ts';
import { WalletService } from '../src/ledger/wallets/service.ts';
import { Store } from '../src/store/store.ts';
import { printMarks } from './bench-marks.ts';

const quick = process.argv.includes('--quick');
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
// Fifty agents: payments in flight at once come from different payers (one payer's holdings are spent in turn).
const AGENTS = Array.from({ length: 50 }, (_, i) => `agent${i}`);

function tempDb(): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-ledger-'));
  return { path: join(dir, 'p.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `count` transfers of 1 around a ring of agents (each can always pay): `inFlight` payers at once, each paying one
 * after another (1: strictly one payment at a time).
 */
async function transfers(wallets: WalletService, count: number, tag: string, inFlight = 1): Promise<number> {
  const started = performance.now();
  let next = 0;
  const payer = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      await wallets.transfer({
        from: AGENTS[i % AGENTS.length]!,
        to: AGENTS[(i + 1) % AGENTS.length]!,
        amount: '1',
        reason: 'bench',
        reference: `${tag}-${i}`,
        workflowId: `s-${i % 50}`,
      });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, payer));
  return (count / (performance.now() - started)) * 1000;
}

async function funded(wallets: WalletService): Promise<void> {
  for (const a of AGENTS) await wallets.createWallet(a, '1000000');
}

async function embedded(durability: 'normal' | 'full', count: number, inFlight: number): Promise<number> {
  const db = tempDb();
  const store = new Store({ path: db.path });
  store.setDurability(durability);
  const wallets = new WalletService(new EmbeddedLedger(store));
  await funded(wallets);
  await transfers(wallets, 200, 'warm', inFlight);
  const rate = await transfers(wallets, count, 'run', inFlight);
  store.close();
  db.cleanup();
  return rate;
}

async function overHttp(count: number): Promise<number> {
  const db = tempDb();
  const store = new Store({ path: db.path });
  const token = 'p2tui_bench-operator-token-0123456789';
  const server = serveLedger(new EmbeddedLedger(store), {
    tokens: [{ name: 'operator', token, actAs: ['*'] }],
    loopback: true,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const wallets = new WalletService(
    new CantonJsonLedger({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token }),
  );
  await funded(wallets);
  await transfers(wallets, 20, 'warm', 10);
  const rate = await transfers(wallets, count, 'run', 10);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  store.close();
  db.cleanup();
  return rate;
}

async function atSize(updates: number): Promise<Record<string, number>> {
  const db = tempDb();
  const store = new Store({ path: db.path });
  const wallets = new WalletService(new EmbeddedLedger(store));
  await funded(wallets);
  await transfers(wallets, updates, 'fill');
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };
  const full = await time(() => new EmbeddedLedger(store).verifyChain());
  // A new process: its first write checks the updates since the newest verdict (the one just recorded), and the
  // contracts it spends against the updates that created them.
  const firstWrite = await time(() =>
    new WalletService(new EmbeddedLedger(store)).transfer({
      from: 'agent0',
      to: 'agent1',
      amount: '1',
      reason: '',
      reference: 'first',
    }),
  );
  const balance = await time(() => wallets.balance('agent3'));
  const history = await time(() => wallets.history('agent3', 20));
  const spend = await time(() =>
    checkSpend(
      wallets,
      'agent3',
      's-3',
      '1',
      { policy: { per_session: '1000000', per_day: '1000000' }, approval: 'deny', source: 'bench' },
      Date.now(),
    ),
  );
  store.close();
  db.cleanup();
  return { full, firstWrite, balance, history, spend };
}

const n = quick ? 600 : 5_000;
console.log(
  `ledger: ${fmt(n)} wallet transfers of 1 around 50 agents (each: completion check, holdings read, the payment with its chain link; payments in flight together share a commit)`,
);
const rates = new Map<string, number>();
// --quick (part of `npm run bench -- --quick`, under two minutes in all): the default durability only, the one the mark reads.
for (const durability of quick ? (['normal'] as const) : (['normal', 'full'] as const)) {
  for (const inFlight of [1, 10, 50]) {
    const rate = await embedded(durability, n, inFlight);
    rates.set(`${durability} ${inFlight}`, rate);
    console.log(
      `  embedded, synchronous=${durability.toUpperCase().padEnd(6)} ${String(inFlight).padStart(2)} in flight: ${fmt(rate)} transfers/s`,
    );
  }
}
const h = quick ? 100 : 1_000;
console.log(
  `  through the JSON Ledger API v2 adapter over HTTP (p2tui ledger serve, localhost), 10 in flight: ${fmt(await overHttp(h))} transfers/s (${fmt(h)} transfers)`,
);
for (const size of quick ? [1_000] : [10_000, 50_000]) {
  const r = await atSize(size);
  console.log(
    `  at ${fmt(size)} updates: full verification ${fmt(r['full']!)} ms · a new process's first write ${fmt(r['firstWrite']!, 1)} ms · balance ${fmt(r['balance']!, 1)} ms · history (20) ${fmt(r['history']!, 1)} ms · spend check (session + day) ${fmt(r['spend']!, 1)} ms`,
  );
}
// Issue 7's target, kept by issue 22 (target 5): at least 2,000 transfers/s with payments in flight (50 payers at
// once, the default durability). An absolute rate, so the ratio is to it.
const kept = rates.get('normal 50')!;
printMarks('ledger', [
  {
    target: 'ledger: transfers/s, 50 in flight, synchronous=NORMAL / 2,000',
    measured: `${fmt(kept)} / 2,000 per s`,
    ratio: kept / 2_000,
    limit: 1,
    direction: 'at-least',
  },
]);
