import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError, ValidationError, suggest } from '../core/errors.ts';
import { checkReferences, loadPersonas, type BrokenPersona, type LoadedPersonas } from '../agents/loader.ts';
import type { Persona } from '../agents/persona.ts';
import { ScriptedProvider } from '../models/scripted/provider.ts';
import { HumanProvider } from '../models/human/provider.ts';
import { ProviderRegistry } from '../models/registry.ts';
import {
  checkProvidersConfigured,
  registerProviders,
  workspaceEnvironment,
  type Environment,
} from '../models/configure.ts';
import type { Redactor } from '../models/redactor.ts';
import { DEFAULT_PRICES, type Price } from '../models/pricing.ts';
import { loadWorkspaceTools } from '../tools/loader.ts';
import { ToolRegistry } from '../tools/registry.ts';
import { mcpListedToolsSchema, type McpListing, type McpReplay, type McpTools } from '../tools/mcp-config.ts';
import type { Store } from '../store/store.ts';
import type { Tool } from '../tools/define.ts';
import { LEDGER_TOOLS } from '../tools/builtin/ledger.ts';
import { loadEvaluators, type EvaluatorRegistry } from '../judge/registry.ts';
import { loadScorePolicies, type ScorePolicy } from '../judge/policy.ts';
import { readWorkspaceConfig, type WorkspaceConfig } from './config.ts';

export interface Workspace {
  readonly root: string;
  readonly config: WorkspaceConfig;
  readonly configFile: string | undefined;
  readonly personas: ReadonlyMap<string, Persona>;
  /** Persona files that failed to load (each with all its problems); their agents are unavailable, no others. */
  readonly brokenPersonas: readonly BrokenPersona[];
  readonly tools: ToolRegistry;
  readonly providers: ProviderRegistry;
  readonly dbPath: string;
  /** Prices per model (built-in table with the workspace's overrides). */
  readonly prices: Readonly<Record<string, Price>>;
  /** Knows every configured key: provider messages and recordings pass through it. */
  readonly redactor: Redactor;
  /** The connected MCP servers (empty when none are configured). */
  readonly mcpServers: McpTools['servers'];
  /** What each MCP server listed (when replaying: what the recording listed); new sessions record it. */
  readonly mcpListings: McpTools['listings'];
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
  /** Replaying a session: MCP tools come from its recorded listings, and its servers are not reached. */
  readonly mcpReplay?: McpReplay;
}

/**
 * What a replay of `replay.from` builds MCP tools from: the listings that session recorded when it started. One
 * that does not read as a listing counts as none (the replay then names the server).
 */
export function mcpReplay(
  store: Store,
  replay: { readonly from: string; readonly onMiss: 'fail' | 'live' },
): McpReplay {
  const session = store.sessions.resolve(replay.from).id;
  const listings = new Map<string, McpListing>();
  for (const [server, row] of store.mcp.listings(session)) {
    const tools = mcpListedToolsSchema.safeParse(row.tools);
    if (tools.success) listings.set(server, { server, tools: tools.data });
  }
  return { session, onMiss: replay.onMiss, listings };
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
  providers.register(new HumanProvider());
  const env = options.env ?? workspaceEnvironment(root);
  const redactor = registerProviders(providers, config.providers, env);
  options.configure?.(providers, config);
  checkProvidersConfigured(providers, config.providers);
  const mcp: McpTools =
    Object.keys(config.mcp_servers).length === 0
      ? { tools: [], servers: [], listings: [], close: async () => undefined }
      : // The SDK loads only for workspaces that configure servers.
        await (
          await import('../tools/mcp.ts')
        ).connectMcpServers(root, config.mcp_servers, env, redactor, options.mcpReplay);
  try {
    for (const tool of mcp.tools) tools.add(tool);
  } catch (error) {
    await mcp.close();
    throw error;
  }
  const prices: Record<string, Price> = { ...DEFAULT_PRICES };
  for (const [model, price] of Object.entries(config.prices))
    prices[model] = { inputPerMillion: price.input, outputPerMillion: price.output };
  let loaded: LoadedPersonas;
  try {
    // A broken persona file disables only its own agent: the others load, and the broken ones are listed.
    loaded = checkReferences(
      loadPersonas(root, {
        model: config.model,
        ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
        providers: providers.ids(),
      }),
      { tools: tools.names(), providers: providers.ids() },
    );
  } catch (error) {
    await mcp.close();
    throw error;
  }
  let evaluators: EvaluatorRegistry;
  let scorePolicies: ScorePolicy[];
  try {
    // A broken persona is still one of the workspace's: its name is not a typo.
    const personaIds = [...loaded.personas.keys(), ...loaded.broken.map((b) => b.id)];
    evaluators = await loadEvaluators(root, config.judge, config.model, { personas: personaIds });
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
    brokenPersonas: loaded.broken,
    tools,
    providers,
    dbPath,
    prices,
    redactor,
    mcpServers: mcp.servers,
    mcpListings: mcp.listings,
    evaluators,
    scorePolicies,
    close: () => mcp.close(),
    persona(id: string): Persona {
      const persona = loaded.personas.get(id);
      // By the id it declares, or by its file's name (personas/foo.yaml declaring id: bar is broken for either name).
      const byFile = (file: string): string => file.replace(/^personas\//, '').replace(/\.(ya?ml|md)$/, '');
      const broken =
        persona === undefined ? loaded.broken.find((b) => b.id === id || byFile(b.file) === id) : undefined;
      if (broken !== undefined) {
        throw new ValidationError(
          // An agent of P2Engine's config/agents.yml says so by its code (both are exit code 3).
          broken.file === 'config/agents.yml' ? 'E_AGENTS_YML' : 'E_PERSONA_INVALID',
          broken.issues,
          `Agent '${id}' is unavailable until ${broken.file} is fixed; the workspace's other agents work (p2tui agents list).`,
        );
      }
      if (persona === undefined) {
        const near = suggest(id, loaded.personas.keys());
        const agents = [...loaded.personas.keys()].join(', ') || '(none: add personas/<id>.yaml)';
        throw new UserError('E_UNKNOWN_AGENT', `unknown agent '${id}'`, {
          hint: `${near === undefined ? '' : `Did you mean ${near}? `}Agents in this workspace: ${agents}.`,
        });
      }
      return persona;
    },
  };
}
