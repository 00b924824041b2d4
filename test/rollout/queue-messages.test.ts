import { describe, expect, it } from 'vitest';
import { parseCellResult } from '../../src/rollout/queue/messages.ts';

/** A worker's result as a well-behaved worker sends it for a cell that paid 5 from payer to payee. */
const good = {
  status: 'done',
  error: null,
  metrics: {
    scores: { quality: 0.8, judge: null },
    steps: 3,
    tokens: 120,
    costUsd: 0.0001,
    latencyMs: 310,
    delegations: 0,
    transfers: 1,
    netFlow: { payer: '-5', payee: '5' },
    balances: { payer: '95', payee: '5' },
    status: 'finished',
    answer: 'Paid.',
  },
  bundle: null,
  ledger: [
    {
      kind: 'transfer',
      from: 'payer',
      to: 'payee',
      amount: '5',
      reason: 'work',
      reference: 'k_1',
      workflowId: null,
    },
  ],
  worker: 'host:42',
  signature: '00'.repeat(32),
};

describe('a worker result from the queue', () => {
  it('is believed only once it parses: the coordinator names what is wrong and pays nothing', () => {
    expect(parseCellResult(good, 'r_1-c_1').ledger).toHaveLength(1);
    const bad = (edit: (r: typeof good) => unknown): string => {
      const copy = structuredClone(good);
      const changed = (edit(copy) ?? copy) as unknown;
      try {
        parseCellResult(changed, 'r_1-c_1');
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(
      bad((r) => ({ ...r, ledger: [{ kind: 'mint', to: 'treasurer', amount: '1e6', reason: '', reference: 'x' }] })),
    ).toMatch(/result for r_1-c_1 is malformed: ledger.0.amount: a positive decimal amount/);
    expect(bad((r) => ({ ...r, ledger: [{ ...r.ledger[0], amount: '-3' }] }))).toMatch(/ledger.0.amount/);
    expect(bad((r) => ({ ...r, metrics: { ...r.metrics, costUsd: -1 } }))).toMatch(/metrics.costUsd/);
    expect(bad((r) => ({ ...r, metrics: { ...r.metrics, steps: -5 } }))).toMatch(/metrics.steps/);
    expect(bad((r) => ({ ...r, metrics: { ...r.metrics, scores: { quality: 99 } } }))).toMatch(
      /metrics.scores.quality/,
    );
    expect(bad((r) => ({ ...r, status: 'mostly' }))).toMatch(/status/);
    expect(bad((r) => ({ ...r, bundle: { format: 'p2tui-session-bundle', version: 1 } }))).toMatch(
      /the worker's bundle for r_1-c_1: exportedAt: missing/,
    );
    expect(bad(() => 'not an object')).toMatch(/malformed/);
  });
});
