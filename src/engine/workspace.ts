import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { UserError, suggest } from '../core/errors.ts';
import { parseYamlWith } from '../core/yaml-schema.ts';
import { checkReferences, loadPersonas } from '../agents/loader.ts';
import type { Persona } from '../agents/persona.ts';
import { ScriptedProvider } from '../models/scripted/provider.ts';
import { ProviderRegistry } from '../models/registry.ts';
import {
  checkProvidersConfigured,
  registerProviders,
  workspaceEnvironment,
  type Environment,
} from '../models/configure.ts';
import type { Redactor } from '../models/http/errors.ts';
import { DEFAULT_PRICES, type Price } from '../models/pricing.ts';
import { loadWorkspaceTools } from '../tools/loader.ts';
import { ToolRegistry } from '../tools/registry.ts';
import { mcpServerSchema, type McpTools } from '../tools/mcp-config.ts';
import type { Tool } from '../tools/define.ts';
import { judgeConfigSchema } from '../judge/config.ts';
import { LEDGER_TOOLS } from '../ledger/tools.ts';
import { loadEvaluators, type EvaluatorRegistry } from '../judge/registry.ts';
import { loadScorePolicies, type ScorePolicy } from '../judge/policy.ts';

/** `p2tui.yaml`: optional; every field has a default that runs offline. */
export const workspaceConfigSchema = z.strictObject({
  /** Model for personas that name none. */
  model: z
    .string()
    .regex(/^[^/\s]+\/\S+$/, 'provider/name, e.g. scripted/default')
    .default('scripted/default'),
  temperature: z.number().min(0).max(2).optional(),
  /** How questions from agents are answered when nobody is at a terminal. */
  approval: z.enum(['deny', 'approve', 'ask']).default('ask'),
  /** Steps (model calls) the scheduler runs at once, across all sessions. */
  concurrency: z.int().min(1).max(10_000).default(32),
  /** Step budget of a session (model calls over all its conversations). */
  max_steps: z.int().min(1).max(1_000_000).default(200),
  providers: z
    .record(
      z.string(),
      z.strictObject({
        /** openai: any OpenAI-compatible server; ollama. Optional for the built-in scripted, openai and ollama. */
        type: z.enum(['scripted', 'openai', 'ollama']).optional(),
        base_url: z.url().optional(),
        /** Ollama's address (OLLAMA_HOST by default). */
        host: z.string().min(1).optional(),
        /** The environment variable holding the key (OPENAI_API_KEY for openai). */
        api_key_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
          .optional(),
        /** A key written here (prefer api_key_env and .env: a key in p2tui.yaml ends up in version control). */
        api_key: z.string().min(1).optional(),
        concurrency: z.int().min(1).max(10_000).optional(),
        /** Requests per minute. */
        rpm: z.int().min(1).max(1_000_000).optional(),
        max_retries: z.int().min(0).max(20).optional(),
        retry_base_ms: z.int().min(1).max(60_000).optional(),
        stream: z.boolean().optional(),
        /** Context window of this provider's models, in tokens (over the built-in table's provider entry). */
        context_tokens: z.int().min(256).max(100_000_000).optional(),
        latency_ms: z.int().min(0).max(600_000).optional(),
      }),
    )
    .default({}),
  /** Prices in USD per million tokens, by provider/model or provider/* (over the built-in table). */
  prices: z
    .record(
      z.string().regex(/^[^/\s]+\/\S+$/, 'provider/model or provider/*'),
      z.strictObject({ input: z.number().min(0), output: z.number().min(0) }),
    )
    .default({}),
  /** Model Context Protocol servers whose tools personas may use (as `<server>__<tool>`). */
  mcp_servers: z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'letters, digits, _ and -, starting with a letter'),
      mcpServerSchema,
    )
    .default({}),
  /** The judge: evaluators (rubrics scored by a model, assertions, custom code), when they run, the judge model. */
  judge: judgeConfigSchema.prefault({}),
  /** The ledger: how escrows that pay a delegate on delivery are settled. */
  ledger: z
    .strictObject({
      /**
       * An escrow an agent opens for a delegate (open_escrow) is released when this evaluator scores the delegate's
       * conversation at or above `threshold`, and refunded when it scores below; a judge failure leaves it open.
       */
      escrow: z.strictObject({ evaluator: z.string().min(1), threshold: z.number().min(0).max(1) }).optional(),
      /**
       * Keep the wallets on a Canton participant (its JSON Ledger API v2, with the daml/ package uploaded) instead of
       * the embedded ledger. The token is read from the environment variable `token_env` names, never from here.
       */
      canton: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }),
          token_env: z
            .string()
            .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name')
            .optional(),
          user: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  /** Database path, relative to the workspace. */
  database: z.string().min(1).default('.p2tui/p2tui.db'),
  /**
   * normal: a commit survives a killed process, not a power cut (SQLite WAL with synchronous=NORMAL). full: it
   * survives a power cut too, at the cost of a disk sync per commit (see BENCHMARKS.md). P2TUI_DURABILITY overrides.
   */
  durability: z.enum(['normal', 'full']).default('normal'),
});

export type WorkspaceConfig = z.output<typeof workspaceConfigSchema>;

export interface Workspace {
  readonly root: string;
  readonly config: WorkspaceConfig;
  readonly configFile: string | undefined;
  readonly personas: ReadonlyMap<string, Persona>;
  readonly tools: ToolRegistry;
  readonly providers: ProviderRegistry;
  readonly dbPath: string;
  /** Prices per model (built-in table with the workspace's overrides). */
  readonly prices: Readonly<Record<string, Price>>;
  /** Knows every configured key: provider messages and recordings pass through it. */
  readonly redactor: Redactor;
  /** The connected MCP servers (empty when none are configured). */
  readonly mcpServers: McpTools['servers'];
  /** The judge's evaluators, with the rubrics and custom evaluators they use. */
  readonly evaluators: EvaluatorRegistry;
  /** How the workspace reacts to scores (`policies/`, defineScorePolicy). */
  readonly scorePolicies: readonly ScorePolicy[];
  persona(id: string): Persona;
  /** Disconnects from MCP servers (stops the stdio ones). Safe to call twice. */
  close(): Promise<void>;
}

export interface LoadOptions {
  /** A database path overriding the workspace's (`--db`). */
  readonly db?: string;
  /** Extra tools (tests, embedding applications). */
  readonly extraTools?: readonly Tool[];
  /** The environment keys and URLs come from (default: process.env over the workspace's .env). */
  readonly env?: Environment;
  /** Extra providers, or replacements of built-in ones. */
  readonly configure?: (providers: ProviderRegistry, config: WorkspaceConfig) => void;
}

export function isWorkspace(root: string): boolean {
  return existsSync(join(root, 'p2tui.yaml')) || existsSync(join(root, 'personas'));
}

export function readWorkspaceConfig(root: string): { config: WorkspaceConfig; file: string | undefined } {
  const file = join(root, 'p2tui.yaml');
  if (!existsSync(file)) return { config: workspaceConfigSchema.parse({}), file: undefined };
  const parsed = parseYamlWith(workspaceConfigSchema, readFileSync(file, 'utf8'), 'p2tui.yaml', {
    code: 'E_CONFIG',
    hint: 'Fix p2tui.yaml.',
  });
  return { config: parsed.value, file };
}

/** Loads a workspace: config, tools, providers and personas, with every cross-reference checked. */
export async function loadWorkspace(rootDir: string, options: LoadOptions = {}): Promise<Workspace> {
  const root = resolve(rootDir);
  if (!existsSync(root)) {
    throw new UserError('E_WORKSPACE', `workspace folder ${root} does not exist`, {
      hint: 'Create one with: p2tui init <dir>',
    });
  }
  const { config, file } = readWorkspaceConfig(root);
  const tools = new ToolRegistry();
  for (const tool of await loadWorkspaceTools(root)) tools.add(tool);
  // The ledger's tools, for personas that list them (check_balance, transfer_funds, …).
  for (const tool of LEDGER_TOOLS) tools.add(tool);
  for (const tool of options.extraTools ?? []) tools.add(tool);
  const providers = new ProviderRegistry();
  providers.register(new ScriptedProvider({ latencyMs: config.providers['scripted']?.latency_ms ?? 0 }));
  const env = options.env ?? workspaceEnvironment(root);
  const redactor = registerProviders(providers, config.providers, env);
  options.configure?.(providers, config);
  checkProvidersConfigured(providers, config.providers);
  const mcp: McpTools =
    Object.keys(config.mcp_servers).length === 0
      ? { tools: [], servers: [], close: async () => undefined }
      : // The SDK loads only for workspaces that configure servers.
        await (
          await import('../tools/mcp.ts')
        ).connectMcpServers(root, config.mcp_servers, env, (secret) => redactor.add(secret));
  try {
    for (const tool of mcp.tools) tools.add(tool);
  } catch (error) {
    await mcp.close();
    throw error;
  }
  const prices: Record<string, Price> = { ...DEFAULT_PRICES };
  for (const [model, price] of Object.entries(config.prices))
    prices[model] = { inputPerMillion: price.input, outputPerMillion: price.output };
  let loaded: ReturnType<typeof loadPersonas>;
  try {
    loaded = loadPersonas(root, {
      model: config.model,
      ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
    });
    checkReferences(loaded, { tools: tools.names(), providers: providers.ids() });
  } catch (error) {
    await mcp.close();
    throw error;
  }
  let evaluators: EvaluatorRegistry;
  let scorePolicies: ScorePolicy[];
  try {
    evaluators = await loadEvaluators(root, config.judge, config.model);
    const escrow = config.ledger.escrow;
    if (escrow !== undefined && evaluators.get(escrow.evaluator) === undefined) {
      throw new UserError(
        'E_CONFIG',
        `p2tui.yaml: ledger.escrow.evaluator: no evaluator '${escrow.evaluator}' under judge.evaluators`,
        { hint: "Name one of judge.evaluators (it must judge the delegates' conversations: agents: [...] or ['*'])." },
      );
    }
    scorePolicies = [...(await loadScorePolicies(root)).values()];
    for (const e of evaluators.list()) if (e.kind === 'llm') providers.resolve(evaluators.modelOf(e));
  } catch (error) {
    await mcp.close();
    throw error;
  }
  const dbPath = options.db ?? (isAbsolute(config.database) ? config.database : join(root, config.database));
  return {
    root,
    config,
    configFile: file,
    personas: loaded.personas,
    tools,
    providers,
    dbPath,
    prices,
    redactor,
    mcpServers: mcp.servers,
    evaluators,
    scorePolicies,
    close: () => mcp.close(),
    persona(id: string): Persona {
      const persona = loaded.personas.get(id);
      if (persona === undefined) {
        const near = suggest(id, loaded.personas.keys());
        throw new UserError('E_UNKNOWN_AGENT', `unknown agent '${id}'`, {
          hint: `${near === undefined ? '' : `Did you mean ${near}? `}Agents in this workspace: ${[...loaded.personas.keys()].join(', ') || '(none: add personas/<id>.yaml)'}.`,
        });
      }
      return persona;
    },
  };
}
