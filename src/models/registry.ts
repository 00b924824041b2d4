import { UserError, suggest } from '../core/errors.ts';
import type { ModelProvider } from './provider.ts';
import { RedactingProvider } from './redacting.ts';
import { Redactor } from './redactor.ts';

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

/**
 * The providers a workspace can use, by id. Each is served through the registry's redactor, which knows every
 * configured key: whatever a provider answers, a key in it is neither stored nor shown.
 */
export class ProviderRegistry {
  readonly redactor: Redactor;
  private readonly providers = new Map<string, ModelProvider>();

  constructor(redactor: Redactor = new Redactor()) {
    this.redactor = redactor;
  }

  register(provider: ModelProvider): void {
    this.providers.set(provider.id, new RedactingProvider(provider, this.redactor));
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
