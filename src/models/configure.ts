import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { UserError, messageOf } from '../core/errors.ts';
import type { Redactor } from './redactor.ts';
import { DEFAULT_RETRY, type RetryPolicy } from './http/retry.ts';
import { OllamaProvider } from './ollama/provider.ts';
import { OpenAIProvider } from './openai/provider.ts';
import type { ProviderRegistry } from './registry.ts';

/** One entry of `providers:` in p2tui.yaml, as the workspace schema parses it. */
export interface ProviderSettings {
  readonly type?: 'scripted' | 'openai' | 'ollama' | undefined;
  readonly base_url?: string | undefined;
  readonly api_key_env?: string | undefined;
  readonly api_key?: string | undefined;
  readonly host?: string | undefined;
  readonly rpm?: number | undefined;
  readonly max_retries?: number | undefined;
  readonly retry_base_ms?: number | undefined;
  readonly stream?: boolean | undefined;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The environment providers read their keys and URLs from: the process's, over the workspace's `.env` when there
 * is one (a variable set in the shell wins, as with dotenv). Nothing is written into `process.env`.
 */
export function workspaceEnvironment(root: string, env: Environment = process.env): Environment {
  const file = join(root, '.env');
  if (!existsSync(file)) return env;
  let parsed: Record<string, string>;
  try {
    parsed = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (error) {
    throw new UserError('E_CONFIG', `cannot read ${file}: ${messageOf(error)}`, {
      hint: 'Fix or remove the .env file (lines of NAME=value).',
    });
  }
  return { ...parsed, ...env };
}

const BUILT_IN: Readonly<Record<string, 'scripted' | 'openai' | 'ollama'>> = {
  scripted: 'scripted',
  openai: 'openai',
  ollama: 'ollama',
};

/**
 * Registers `openai` and `ollama` (always available; they fail with a clear message when not reachable or not
 * keyed) and every OpenAI-compatible or Ollama server configured under another name. Every key goes to the
 * registry's redactor, returned, so messages and recordings never carry one.
 */
export function registerProviders(
  providers: ProviderRegistry,
  settings: Readonly<Record<string, ProviderSettings>>,
  env: Environment,
): Redactor {
  const { redactor } = providers;
  const ids = new Set([...Object.keys(settings), 'openai', 'ollama']);
  for (const id of ids) {
    const s = settings[id] ?? {};
    const type = s.type ?? BUILT_IN[id];
    // Settings (concurrency, say) for a provider an embedding application registers itself: checked by
    // checkProvidersConfigured once every provider is registered.
    if (type === undefined) continue;
    if (type !== BUILT_IN[id] && BUILT_IN[id] !== undefined) {
      throw new UserError('E_CONFIG', `p2tui.yaml: providers.${id} is built in as type ${BUILT_IN[id]}, not ${type}`, {
        hint: `Give the ${type} server another name, e.g. providers.my-${type}.`,
        location: { file: 'p2tui.yaml', field: `providers.${id}.type` },
      });
    }
    const retry: RetryPolicy = {
      ...DEFAULT_RETRY,
      ...(s.max_retries === undefined ? {} : { maxRetries: s.max_retries }),
      ...(s.retry_base_ms === undefined ? {} : { baseDelayMs: s.retry_base_ms }),
    };
    const common = {
      id,
      retry,
      redactor,
      ...(s.rpm === undefined ? {} : { rpm: s.rpm }),
      ...(s.stream === undefined ? {} : { stream: s.stream }),
    };
    if (type === 'openai') {
      const keyVariable = s.api_key_env ?? (id === 'openai' ? 'OPENAI_API_KEY' : undefined);
      const fromEnv = keyVariable === undefined ? undefined : env[keyVariable];
      const apiKey = fromEnv !== undefined && fromEnv !== '' ? fromEnv : s.api_key;
      redactor.add(fromEnv);
      redactor.add(s.api_key);
      const baseURL =
        s.base_url ??
        (id === 'openai' ? env['OPENAI_BASE_URL'] : undefined) ??
        (id === 'openai' ? 'https://api.openai.com/v1' : undefined);
      if (baseURL === undefined) {
        throw new UserError('E_CONFIG', `p2tui.yaml: providers.${id} (type openai) has no base_url`, {
          hint: `Set providers.${id}.base_url to the server's OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.`,
          location: { file: 'p2tui.yaml', field: `providers.${id}.base_url` },
        });
      }
      providers.register(
        new OpenAIProvider({ ...common, baseURL, apiKey, ...(keyVariable === undefined ? {} : { keyVariable }) }),
      );
    } else if (type === 'ollama') {
      providers.register(
        new OllamaProvider({
          ...common,
          host: ollamaHost(s.host ?? s.base_url ?? (id === 'ollama' ? env['OLLAMA_HOST'] : undefined)),
        }),
      );
    }
  }
  return redactor;
}

/** OLLAMA_HOST may be `host:port` or `0.0.0.0` (how the server is told to listen); a client needs a URL. */
function ollamaHost(value: string | undefined): string {
  if (value === undefined || value.trim() === '') return 'http://127.0.0.1:11434';
  let host = value.trim();
  if (!/^https?:\/\//.test(host)) host = `http://${host}`;
  const url = new URL(host);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.port === '' && !/^https?:\/\/[^/]+:\d+/.test(host) && url.protocol === 'http:') url.port = '11434';
  return url.toString().replace(/\/$/, '');
}

/** Every provider named under `providers:` must exist once the application has registered its own. */
export function checkProvidersConfigured(
  providers: ProviderRegistry,
  settings: Readonly<Record<string, ProviderSettings>>,
): void {
  for (const id of Object.keys(settings)) {
    if (providers.has(id)) continue;
    throw new UserError('E_CONFIG', `p2tui.yaml: providers.${id} has no type`, {
      hint: `Add type: openai (any OpenAI-compatible server: vLLM, LM Studio, llama.cpp, OpenRouter) or type: ollama under providers.${id}.`,
      location: { file: 'p2tui.yaml', field: `providers.${id}.type` },
    });
  }
}
