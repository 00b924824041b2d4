/**
 * Prices per million tokens, by `provider/model`. The scripted simulator has a nominal price (that of a small
 * hosted model) so cost accounting, budgets and reports work offline; its costs are labelled simulated.
 */
export interface Price {
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
}

export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  'scripted/*': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
};

export function priceFor(model: string, table: Readonly<Record<string, Price>> = DEFAULT_PRICES): Price | undefined {
  const exact = table[model];
  if (exact !== undefined) return exact;
  const provider = model.split('/')[0] ?? '';
  return table[`${provider}/*`];
}

export function costOf(model: string, inputTokens: number, outputTokens: number, table?: Readonly<Record<string, Price>>): number {
  const price = priceFor(model, table);
  if (price === undefined) return 0;
  return (inputTokens * price.inputPerMillion + outputTokens * price.outputPerMillion) / 1_000_000;
}
