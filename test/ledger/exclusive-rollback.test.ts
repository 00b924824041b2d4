import { describe, expect, it } from 'vitest';
import { openWallets } from '../../src/ledger/wallets/open.ts';
import { Store } from '../../src/store/store.ts';
import { tempStore } from '../helpers/workspace.ts';

/**
 * Issue 16, point 1: payments made inside a store transaction that then rolls back (a queue's ingest whose import
 * failed) leave the embedded ledger as it was, and the ledger forgets what it learned inside: the next payment is
 * neither refused as a broken chain nor made with parties that are gone.
 */
describe('the embedded ledger after a rolled-back exclusive transaction', () => {
  it('a first ever payment rolled back (seal, operator, parties with it): the next one goes through, the chain ok', async () => {
    const t = tempStore();
    try {
      const wallets = openWallets(t.store);
      await expect(
        t.store.exclusive(async () => {
          await wallets.createWallet('alice', '10');
          await wallets.createWallet('bob', '5');
          await wallets.transfer({ from: 'alice', to: 'bob', amount: '3', reason: 'work', reference: 'r1' });
          throw new Error('the import failed');
        }),
      ).rejects.toThrow('the import failed');
      expect(await wallets.ledger.ledgerEnd()).toBe(0);
      expect(await wallets.ledger.parties()).toEqual([]);
      // Again, the same references: paid once, from what the ledger holds now.
      await wallets.createWallet('alice', '10');
      await wallets.createWallet('bob', '5');
      await wallets.transfer({ from: 'alice', to: 'bob', amount: '3', reason: 'work', reference: 'r1' });
      expect((await wallets.balance('alice')).balance).toBe('7');
      expect((await wallets.balance('bob')).balance).toBe('8');
      expect((await wallets.ledger.verifyChain!()).ok).toBe(true);
      // Another process opening the file sees the same.
      const again = new Store({ path: t.store.path });
      try {
        const fresh = openWallets(again);
        expect((await fresh.balance('bob')).balance).toBe('8');
        expect((await fresh.ledger.verifyChain!()).ok).toBe(true);
      } finally {
        again.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('payments rolled back on a ledger in use: balances and chain as before, the next payment works', async () => {
    const t = tempStore();
    try {
      const wallets = openWallets(t.store);
      await wallets.createWallet('alice', '10');
      await wallets.createWallet('bob', '5');
      const end = await wallets.ledger.ledgerEnd();
      await expect(
        t.store.exclusive(async () => {
          await wallets.createWallet('carol', '1');
          await wallets.transfer({ from: 'alice', to: 'bob', amount: '4', reason: 'work', reference: 'r1' });
          await wallets.transfer({ from: 'bob', to: 'carol', amount: '9', reason: 'work', reference: 'r2' });
          throw new Error('the import failed');
        }),
      ).rejects.toThrow('the import failed');
      expect(await wallets.ledger.ledgerEnd()).toBe(end);
      expect((await wallets.balance('alice')).balance).toBe('10');
      expect((await wallets.balance('bob')).balance).toBe('5');
      await wallets.createWallet('carol', '1');
      await wallets.transfer({ from: 'bob', to: 'carol', amount: '5', reason: 'work', reference: 'r2' });
      expect((await wallets.balance('carol')).balance).toBe('6');
      expect((await wallets.ledger.verifyChain!()).ok).toBe(true);
    } finally {
      t.cleanup();
    }
  });
});
