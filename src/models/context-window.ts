/**
 * Context windows in tokens, by `provider/model` or `provider/*`. `providers.<id>.context_tokens` in p2tui.yaml
 * overrides this table for the provider's models, and a persona's `policies.context_tokens` overrides both.
 */
export const DEFAULT_CONTEXT_TOKENS: Readonly<Record<string, number>> = {
  'scripted/*': 1_000_000,
  'openai/*': 128_000,
  'openai/gpt-4.1': 1_047_576,
  'openai/gpt-4.1-mini': 1_047_576,
  'openai/gpt-4.1-nano': 1_047_576,
  'openai/o4-mini': 200_000,
  // Ollama runs a model with num_ctx tokens of context, 4,096 unless the server or model file says otherwise.
  'ollama/*': 4_096,
};

/** The context window of a model reference, or undefined when nothing is known (no trimming then). */
export function contextTokensFor(modelRef: string, providerSetting: number | undefined): number | undefined {
  return (
    providerSetting ?? DEFAULT_CONTEXT_TOKENS[modelRef] ?? DEFAULT_CONTEXT_TOKENS[`${modelRef.split('/')[0] ?? ''}/*`]
  );
}
