import { LedgerError } from '../../src/ledger/types.ts';

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
