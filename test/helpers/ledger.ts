import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { EmbeddedLedger } from '../../src/ledger/embedded/ledger.ts';
import { serveLedger } from '../../src/ledger/json-api/facade.ts';
import { LedgerError } from '../../src/ledger/types.ts';
import { tempStore } from './workspace.ts';

/** The ledger error a call rejects with (or fails the test). */
export async function refusal(promise: Promise<unknown>): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LedgerError) return error;
    throw error;
  }
  throw new Error('expected the ledger to refuse');
}

/** The operator's bearer token of the `ledger serve` a suite starts. */
export const SERVE_TOKEN = 'p2tui_test-operator-token-0123456789';

/**
 * `ledger serve`'s facade over a fresh embedded ledger on a free loopback port, for the whole suite (started in
 * beforeAll, closed in afterAll); `url` is set once it listens.
 */
export function ledgerServeForSuite(): { readonly url: string } {
  const served = tempStore();
  let server: Server | undefined;
  const state = { url: '' };
  beforeAll(async () => {
    const started = serveLedger(new EmbeddedLedger(served.store), {
      tokens: [{ name: 'operator', token: SERVE_TOKEN, actAs: ['*'] }],
      loopback: true,
    });
    server = started;
    await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', resolve));
    state.url = `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    served.cleanup();
  });
  return state;
}
