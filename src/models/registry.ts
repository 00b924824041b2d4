import { UserError, suggest } from '../core/errors.ts';
import type { ModelProvider } from './provider.ts';

export interface ModelRef {
  readonly provider: string;
  readonly name: string;
  /** `provider/name` as written. */
  readonly ref: string;
}

/** Parses `provider/name` (a bare name means the scripted simulator's named profile). */
export function parseModelRef(ref: string): ModelRef {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    throw new UserError('E_CONFIG', `model '${ref}' is not of the form provider/name`, {
      hint: 'Write it as provider/name, e.g. scripted/default, openai/gpt-4o-mini or ollama/llama3.2.',
    });
  }
  return { provider: ref.slice(0, slash), name: ref.slice(slash + 1), ref };
}

/** The providers a workspace can use, by id. */
export class ProviderRegistry {
  private readonly providers = new Map<string, ModelProvider>();

  register(provider: ModelProvider): void {
    this.providers.set(provider.id, provider);
  }

  has(id: string): boolean {
    return this.providers.has(id);
  }

  resolve(ref: string): { provider: ModelProvider; model: ModelRef } {
    const model = parseModelRef(ref);
    const provider = this.providers.get(model.provider);
    if (provider === undefined) {
      const near = suggest(model.provider, this.providers.keys());
      throw new UserError('E_UNKNOWN_PROVIDER', `unknown model provider '${model.provider}' in '${ref}'`, {
        hint: `${near === undefined ? '' : `Did you mean ${near}? `}Available here: ${[...this.providers.keys()].join(', ')}.`,
      });
    }
    return { provider, model };
  }

  ids(): string[] {
    return [...this.providers.keys()];
  }
}
