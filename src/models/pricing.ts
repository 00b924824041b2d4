/**
 * Prices per million tokens, by `provider/model`. The scripted simulator has a nominal price (that of a small
 * hosted model) so cost accounting, budgets and reports work offline; its costs are labelled simulated.
 */
export interface Price {
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
}

/**
 * Public list prices (USD per million tokens) when this table was written; override or extend them under
 * `prices:` in p2tui.yaml. A model with no price costs 0 and is shown as unpriced.
 */
export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  'scripted/*': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  'openai/gpt-4o-mini': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  'openai/gpt-4o': { inputPerMillion: 2.5, outputPerMillion: 10 },
  'openai/gpt-4.1': { inputPerMillion: 2, outputPerMillion: 8 },
  'openai/gpt-4.1-mini': { inputPerMillion: 0.4, outputPerMillion: 1.6 },
  'openai/gpt-4.1-nano': { inputPerMillion: 0.1, outputPerMillion: 0.4 },
  'openai/o4-mini': { inputPerMillion: 1.1, outputPerMillion: 4.4 },
  // Local models cost nothing per token.
  'ollama/*': { inputPerMillion: 0, outputPerMillion: 0 },
  // A person answering (human/operator) uses no tokens: priced at nothing rather than shown as unpriced.
  'human/*': { inputPerMillion: 0, outputPerMillion: 0 },
};

export function priceFor(model: string, table: Readonly<Record<string, Price>> = DEFAULT_PRICES): Price | undefined {
  const exact = table[model];
  if (exact !== undefined) return exact;
  const provider = model.split('/')[0] ?? '';
  return table[`${provider}/*`];
}

export function costOf(
  model: string,
  inputTokens: number,
  outputTokens: number,
  table?: Readonly<Record<string, Price>>,
): number {
  const price = priceFor(model, table);
  if (price === undefined) return 0;
  return (inputTokens * price.inputPerMillion + outputTokens * price.outputPerMillion) / 1_000_000;
}
