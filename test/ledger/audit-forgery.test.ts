import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rowHash } from '../../src/ledger/embedded/chain.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded/ledger.ts';
import { keyFileOf } from '../../src/ledger/embedded/key.ts';
import { WalletService } from '../../src/ledger/wallets/service.ts';
import type { UpdateRow } from '../../src/store/ledger.ts';
import { Store } from '../../src/store/store.ts';
import { tempStore, tempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { withRawDb } from '../helpers/raw-db.ts';

/**
 * The audit trail attacked by someone who can write the database file but not read the ledger key: every forgery
 * of issue 15 is found, stops every writer, and shows in the reads that show balances.
 */
const ROOT = join(import.meta.dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

async function funded(): Promise<{ store: Store; wallets: WalletService }> {
  const made = tempStore();
  cleanups.push(made.cleanup);
  const wallets = new WalletService(new EmbeddedLedger(made.store));
  await wallets.createWallet('a', '100');
  await wallets.createWallet('b');
  await wallets.createWallet('c', '50');
  await wallets.transfer({ from: 'a', to: 'b', amount: '7', reason: '', reference: 't1' });
  return { store: made.store, wallets };
}

/** A new process's wallets over the same database. */
const fresh = (store: Store): WalletService => new WalletService(new EmbeddedLedger(store));

/**
 * The issue's forgery: the newest update's payment to b becomes 4,007 (in the update and in b's holding), and its
 * SHA-256 is recomputed with the public prefix, as is the next link if any.
 */
function forgeNewest(path: string): number {
  return withRawDb(path, (raw) => {
    const row = raw.prepare('SELECT * FROM ledger_updates ORDER BY "offset" DESC LIMIT 1').get() as UpdateRow;
    const events = row.events.replace('"amount":"7"', '"amount":"4007"');
    expect(events).not.toBe(row.events);
    const hash = rowHash(row.prev_hash, { ...row, events });
    raw.prepare('UPDATE ledger_updates SET events = ?, hash = ? WHERE "offset" = ?').run(events, hash, row.offset);
    raw
      .prepare(
        `UPDATE ledger_contracts SET payload = replace(payload, '"amount":"7"', '"amount":"4007"') WHERE created_offset = ?`,
      )
      .run(row.offset);
    return row.offset;
  });
}

describe('a forged audit trail', () => {
  it('an amount edited with its SHA-256 recomputed: --verify names it, no forged money is spent, writes stop', async () => {
    const { store } = await funded();
    const offset = forgeNewest(store.path);
    const report = await fresh(store).ledger.verifyChain!();
    expect(report).toMatchObject({ ok: false, firstBad: offset });
    expect(report.reason).toContain('does not match its MAC (altered and re-hashed without the key)');
    expect(report.mode).toMatch(/^keyed: HMAC-SHA256 with the key from .*p\.ledger-key \(key id [0-9a-f]{16}\)$/);
    const w = fresh(store);
    await expect(w.transfer({ from: 'b', to: 'c', amount: '4000', reason: '', reference: 'spend' })).rejects.toThrow(
      /AUDIT_CHAIN_BROKEN/,
    );
    await expect(w.transfer({ from: 'c', to: 'a', amount: '1', reason: '', reference: 'other' })).rejects.toThrow(
      /AUDIT_CHAIN_BROKEN/,
    );
    // Without the key (a re-keying), value conservation alone refuses it: b got 4,007 from a holding of 100.
    await expect(fresh(store).ledger.rekey!()).rejects.toThrow(
      /breaks value conservation: it creates 4100 of money from 100 consumed/,
    );
  });

  it('a refused spend of an edited holding stops the next unrelated transfer, in this process and the next', async () => {
    const { store } = await funded();
    withRawDb(store.path, (raw) =>
      raw.exec(
        `UPDATE ledger_contracts SET payload = replace(payload, '"amount":"93"', '"amount":"9093"') WHERE archived_offset IS NULL`,
      ),
    );
    const w = fresh(store);
    await expect(w.transfer({ from: 'a', to: 'b', amount: '5000', reason: '', reference: 'big' })).rejects.toThrow(
      /AUDIT_CHAIN_BROKEN/,
    );
    await expect(w.transfer({ from: 'c', to: 'b', amount: '1', reason: '', reference: 'unrelated' })).rejects.toThrow(
      /AUDIT_CHAIN_BROKEN/,
    );
    await expect(
      fresh(store).transfer({ from: 'c', to: 'b', amount: '1', reason: '', reference: 'unrelated' }),
    ).rejects.toThrow(
      /AUDIT_CHAIN_BROKEN: the ledger's audit chain is broken at offset \d+: contract 00\w+ is not what update/,
    );
  });

  it('a long-running process does not spend a holding it made once it was edited behind its back', async () => {
    const { store, wallets } = await funded();
    withRawDb(store.path, (raw) =>
      raw.exec(
        `UPDATE ledger_contracts SET payload = replace(payload, '"amount":"93"', '"amount":"9093"') WHERE archived_offset IS NULL`,
      ),
    );
    await expect(
      wallets.transfer({ from: 'a', to: 'b', amount: '5000', reason: '', reference: 'big' }),
    ).rejects.toThrow(/AUDIT_CHAIN_BROKEN/);
    expect((await fresh(store).balance('b')).balance).toBe('7');
  });

  it('with P2TUI_LEDGER_KEY the key comes from the environment (no file), and another key does not verify', async () => {
    process.env['P2TUI_LEDGER_KEY'] = 'first secret';
    try {
      const made = tempStore();
      cleanups.push(made.cleanup);
      const w = fresh(made.store);
      await w.createWallet('a', '10');
      expect((await w.ledger.verifyChain!()).mode).toMatch(/^keyed: HMAC-SHA256 with the key from P2TUI_LEDGER_KEY/);
      expect(existsSync(keyFileOf(made.store.path))).toBe(false);
      process.env['P2TUI_LEDGER_KEY'] = 'another secret';
      const other = await fresh(made.store).ledger.verifyChain!();
      expect(other.ok).toBe(false);
      expect(other.reason).toMatch(/sealed with another key/);
      await expect(fresh(made.store).createWallet('b', '1')).rejects.toThrow(/AUDIT_CHAIN_BROKEN/);
      // The right key back: nothing was recorded under the wrong one, so writes go on.
      process.env['P2TUI_LEDGER_KEY'] = 'first secret';
      expect((await fresh(made.store).createWallet('b', '1')).balance).toBe('1');
    } finally {
      delete process.env['P2TUI_LEDGER_KEY'];
    }
  });

  it('the newest update deleted: its offset is not reused, and every writer refuses', async () => {
    const { store } = await funded();
    const end = await fresh(store).ledger.ledgerEnd();
    withRawDb(store.path, (raw) => raw.exec(`DELETE FROM ledger_updates WHERE "offset" = ${end}`));
    await expect(
      fresh(store).transfer({ from: 'c', to: 'a', amount: '1', reason: '', reference: 'after' }),
    ).rejects.toThrow(
      `the ledger ends at offset ${end - 1}, before offset ${end} it reached (the newest updates were removed)`,
    );
    expect(await fresh(store).ledger.ledgerEnd()).toBe(end - 1);
    expect((await fresh(store).ledger.verifyChain!()).ok).toBe(false);
  });

  it('failed verdicts deleted from ledger_audits: writes are still refused', async () => {
    const { store } = await funded();
    // An older update edited (not re-hashed): --verify records a failed verdict, which the attacker then removes.
    withRawDb(store.path, (raw) =>
      raw.exec(
        `UPDATE ledger_updates SET events = replace(events, '"reason":"initial balance"', '"reason":"gift"') WHERE "offset" = 1`,
      ),
    );
    expect((await fresh(store).ledger.verifyChain!()).ok).toBe(false);
    withRawDb(store.path, (raw) => raw.exec('DELETE FROM ledger_audits WHERE ok = 0'));
    await expect(
      fresh(store).transfer({ from: 'c', to: 'a', amount: '1', reason: '', reference: 'after' }),
    ).rejects.toThrow(/the newest verdict is not the one sealed \(verdict \d+ was removed or edited\)/);
  });
});

describe('while other processes pay', () => {
  it('balances, the chain status and full verifications read meanwhile never report a break that is not there', async () => {
    const made = tempStore();
    cleanups.push(made.cleanup);
    const wallets = fresh(made.store);
    await wallets.createWallet('payer', '60');
    await wallets.createWallet('payee');
    const payers = ['a', 'b'].map(
      (tag) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [join(ROOT, 'test/fixtures/ledger-payer.ts'), made.store.path, tag, '30'],
            {
              env: childEnv(),
            },
          );
          let err = '';
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.on('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`payer ${tag} exited ${code}: ${err}`)),
          );
        }),
    );
    let running = true;
    const done = Promise.all(payers).finally(() => (running = false));
    const seen: string[] = [];
    while (running) {
      // A new reader each time: nothing it checks is cached from before.
      const reader = fresh(made.store);
      await reader.balance('payer');
      await reader.balance('payee');
      const status = await reader.ledger.chainStatus!();
      if (!status.ok) seen.push(`status: ${status.reason ?? ''}`);
      const full = await reader.ledger.verifyChain!();
      if (!full.ok) seen.push(`verify: ${full.reason ?? ''}`);
      // The reads settle without I/O: the payers' exits are heard between two rounds.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await done;
    expect(seen).toEqual([]);
    expect((await fresh(made.store).balance('payee')).balance).toBe('60');
  }, 30_000);
});

describe('the keyed chain from the command line', () => {
  it('`ledger balance` warns on an edited amount, `ledger audit` says the mode; a lost key is re-keyed with `ledger rekey`', () => {
    const ws = tempWorkspace();
    ws.persona({ id: 'alpha', description: 'A.', balance: 100 });
    ws.persona({ id: 'beta', description: 'B.', balance: 5 });
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p.db');
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ws.dir,
        encoding: 'utf8',
        env: childEnv(),
      });
    expect(p2tui('ledger', 'init').status).toBe(0);
    expect(statSync(keyFileOf(db)).mode & 0o777).toBe(0o600);
    const audit = p2tui('ledger', 'audit', '--verify');
    expect(audit.stdout).toContain(`mode: keyed: HMAC-SHA256 with the key from ${keyFileOf(db)}`);
    expect(audit.stdout).toContain('chain ok: 2 updates, every link verified');
    // The key is lost: writes stop, the audit says plain; rekey verifies and links the chain under a new key.
    rmSync(keyFileOf(db));
    const refused = p2tui('ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r1');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('the ledger key is missing');
    expect(p2tui('ledger', 'audit').stdout).toContain('mode: plain: SHA-256 only (the ledger key is missing');
    const rekey = p2tui('ledger', 'rekey');
    expect(rekey.stdout).toMatch(
      /rekeyed: 2 updates verified \(plain chain and value conservation\) and linked under the key [0-9a-f]{16}/,
    );
    expect(existsSync(keyFileOf(db))).toBe(true);
    expect(p2tui('ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r1').status).toBe(0);
    expect(p2tui('ledger', 'audit', '--verify').stdout).toContain('chain ok: 3 updates, every link verified');
    // beta's holding edited by hand: the balance is shown with a warning, and the break stops the next write.
    withRawDb(db, (raw) =>
      raw.exec(
        `UPDATE ledger_contracts SET payload = replace(payload, '"amount":"5"', '"amount":"5000"') WHERE archived_offset IS NULL`,
      ),
    );
    const balance = p2tui('ledger', 'balance', 'beta');
    expect(balance.stdout).toMatch(/beta\s+5001/);
    expect(balance.stderr).toContain("warning: the ledger's audit chain is BROKEN at offset");
    expect(p2tui('ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r2').stderr).toContain(
      'AUDIT_CHAIN_BROKEN',
    );
  }, 30_000);
});

describe('a ledger made by an earlier p2tui', () => {
  it('is linked under a new key after a full verification, and then keyed like a new one', async () => {
    const { store, wallets } = await funded();
    const path = store.path;
    store.close();
    // As today's main left it: no MACs, no seal, no key (the schema just before the keyed chain, version 7).
    withRawDb(path, (raw) => raw.exec('DROP TABLE ledger_macs; DROP TABLE ledger_seal; PRAGMA user_version = 7;'));
    rmSync(keyFileOf(path));
    const reopened = new Store({ path });
    cleanups.push(() => reopened.close());
    const w = fresh(reopened);
    const party = await w.partyOf('a');
    expect(party).toBe(await wallets.partyOf('a'));
    const report = await w.ledger.verifyChain!();
    expect(report).toMatchObject({ ok: true, entries: 3 });
    expect(report.mode).toMatch(/^keyed: /);
    expect(statSync(keyFileOf(path)).mode & 0o777).toBe(0o600);
    expect(
      withRawDb(path, (raw) =>
        raw.prepare("SELECT count(*) AS n FROM ledger_audits WHERE reason LIKE 'upgraded:%'").get(),
      ),
    ).toEqual({ n: 1 });
    expect((await w.transfer({ from: 'a', to: 'c', amount: '7', reason: '', reference: 'after' })).amount).toBe('7');
    forgeNewest(path);
    expect((await fresh(reopened).ledger.verifyChain!()).ok).toBe(false);
  });

  it('an upgrade the database refused (a full disk, say) is made again by the next process, not left to rekey', async () => {
    const { store } = await funded();
    const path = store.path;
    store.close();
    withRawDb(path, (raw) => raw.exec('DROP TABLE ledger_macs; DROP TABLE ledger_seal; PRAGMA user_version = 7;'));
    rmSync(keyFileOf(path));
    const reopened = new Store({ path });
    cleanups.push(() => reopened.close());
    // The upgrade's transaction fails where it writes the MACs, after the key was made.
    withRawDb(path, (raw) =>
      raw.exec("CREATE TRIGGER refuse BEFORE INSERT ON ledger_macs BEGIN SELECT RAISE(ABORT, 'disk says no'); END"),
    );
    await expect(
      fresh(reopened).transfer({ from: 'a', to: 'c', amount: '1', reason: '', reference: 'x' }),
    ).rejects.toThrow(/disk says no/);
    withRawDb(path, (raw) => raw.exec('DROP TRIGGER refuse'));
    const w = fresh(reopened);
    expect((await w.transfer({ from: 'a', to: 'c', amount: '1', reason: '', reference: 'x' })).amount).toBe('1');
    const report = await w.ledger.verifyChain!();
    expect(report).toMatchObject({ ok: true, entries: 4 });
    expect(report.mode).toMatch(/^keyed: /);
    // A rekey the database refuses leaves the key in force as it was: the ledger still takes writes.
    withRawDb(path, (raw) =>
      raw.exec("CREATE TRIGGER refuse BEFORE INSERT ON ledger_audits BEGIN SELECT RAISE(ABORT, 'disk says no'); END"),
    );
    await expect(Promise.resolve().then(() => fresh(reopened).ledger.rekey!())).rejects.toThrow(/disk says no/);
    withRawDb(path, (raw) => raw.exec('DROP TRIGGER refuse'));
    expect(
      (await fresh(reopened).transfer({ from: 'a', to: 'c', amount: '1', reason: '', reference: 'y' })).amount,
    ).toBe('1');
  });

  it('is not linked under a key when its plain chain was forged in a way that creates money', async () => {
    const { store } = await funded();
    const path = store.path;
    store.close();
    withRawDb(path, (raw) => raw.exec('DROP TABLE ledger_macs; DROP TABLE ledger_seal; PRAGMA user_version = 7;'));
    rmSync(keyFileOf(path));
    forgeNewest(path);
    const reopened = new Store({ path });
    cleanups.push(() => reopened.close());
    const report = await fresh(reopened).ledger.verifyChain!();
    expect(report.ok).toBe(false);
    expect(report.reason).toContain('breaks value conservation');
    await expect(
      fresh(reopened).transfer({ from: 'c', to: 'a', amount: '1', reason: '', reference: 'x' }),
    ).rejects.toThrow(/the chain made by an earlier p2tui does not verify, so it was not linked under a key/);
    expect(existsSync(keyFileOf(path))).toBe(false);
  });
});
