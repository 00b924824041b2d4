/**
 * P2Engine named its models the way LiteLLM does: `openai/gpt-4o`, `ollama/llama3`, `ollama_chat/llama3`,
 * `anthropic/claude-3-5-sonnet`, or a bare `gpt-4o` (LiteLLM's default provider, OpenAI). p2tui names a model
 * `provider/name`, where the provider is one of its adapters or one declared in p2tui.yaml. This maps the one onto
 * the other, and says what to do when p2tui has no adapter for the provider: every provider LiteLLM reaches can be
 * reached through an OpenAI-compatible endpoint (a LiteLLM proxy, or the vendor's own compatible base URL).
 */
export type LiteLlmModel =
  /** Already a model p2tui can run, as written. */
  | { readonly kind: 'same'; readonly ref: string }
  /** A different spelling of a model p2tui can run; `note` says what was changed and why. */
  | { readonly kind: 'mapped'; readonly ref: string; readonly note: string }
  /** No adapter here for that provider: `message` names it and the OpenAI-compatible route. */
  | { readonly kind: 'unsupported'; readonly provider: string; readonly message: string };

/** Providers p2tui runs without configuration. */
const BUILT_IN = ['scripted', 'openai', 'ollama'] as const;

/** LiteLLM's spellings of providers p2tui has an adapter for. */
const ALIASES: Readonly<Record<string, 'openai' | 'ollama'>> = {
  ollama_chat: 'ollama',
  'text-completion-openai': 'openai',
};

/** Bare model names LiteLLM sends to OpenAI (its default provider). */
const OPENAI_BARE = /^(gpt-|o[1-9](-|$)|chatgpt-|text-davinci|davinci|babbage|ft:gpt-)/i;

/** Bare names LiteLLM routes elsewhere by their prefix, so the error can name the provider. */
const BARE_PROVIDERS: readonly (readonly [RegExp, string])[] = [
  [/^claude/i, 'anthropic'],
  [/^gemini/i, 'gemini'],
  [/^(mistral|mixtral|codestral)/i, 'mistral'],
  [/^command/i, 'cohere'],
];

/**
 * Maps one LiteLLM-style id. `declared` are the providers of p2tui.yaml: a provider declared there under LiteLLM's
 * name (say `anthropic: { type: openai, base_url: … }`) makes `anthropic/…` ids run unchanged.
 */
export function mapLiteLlmModel(id: string, declared: Iterable<string> = []): LiteLlmModel {
  const known = new Set<string>([...BUILT_IN, ...declared]);
  const trimmed = id.trim();
  const slash = trimmed.indexOf('/');
  if (slash <= 0) {
    if (OPENAI_BARE.test(trimmed)) {
      return {
        kind: 'mapped',
        ref: `openai/${trimmed}`,
        note: `'${trimmed}' → openai/${trimmed} (LiteLLM sends a bare ${trimmed} to OpenAI)`,
      };
    }
    const provider = BARE_PROVIDERS.find(([pattern]) => pattern.test(trimmed))?.[1];
    if (provider !== undefined && known.has(provider)) {
      return { kind: 'mapped', ref: `${provider}/${trimmed}`, note: `'${trimmed}' → ${provider}/${trimmed}` };
    }
    return { kind: 'unsupported', provider: provider ?? '', message: unsupported(trimmed, provider, trimmed) };
  }
  const provider = trimmed.slice(0, slash);
  const name = trimmed.slice(slash + 1);
  if (known.has(provider)) return { kind: 'same', ref: trimmed };
  const alias = ALIASES[provider];
  if (alias !== undefined) {
    return {
      kind: 'mapped',
      ref: `${alias}/${name}`,
      note: `'${trimmed}' → ${alias}/${name} (p2tui's ${alias} adapter serves LiteLLM's ${provider})`,
    };
  }
  return { kind: 'unsupported', provider, message: unsupported(trimmed, provider, name) };
}

function unsupported(id: string, provider: string | undefined, name: string): string {
  const named = provider === undefined ? 'names no provider p2tui knows' : `is served by '${provider}'`;
  const key = provider === undefined ? 'myproxy' : provider;
  return (
    `model '${id}' ${named}, and p2tui has adapters for OpenAI-compatible servers and Ollama only. ` +
    `Reach it through an OpenAI-compatible endpoint — a LiteLLM proxy (\`litellm --model ${id}\`) or the vendor's ` +
    `OpenAI-compatible base URL — declared in p2tui.yaml as providers: { ${key}: { type: openai, base_url: ` +
    `http://localhost:4000/v1, api_key_env: ${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY } }, ` +
    `and name the model ${key}/${name}`
  );
}
