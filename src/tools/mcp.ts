import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { EffectClass } from '../core/entries.ts';
import type { McpServerSettings, McpTools } from './mcp-config.ts';
import { UserError, messageOf } from '../core/errors.ts';
import type { JsonObject } from '../core/json.ts';
import { TOOL_BRAND, TOOL_NAME, type Tool } from './define.ts';

/** `${VAR}` in env and header values, from the workspace environment (so keys stay out of p2tui.yaml). */
function expand(
  value: string,
  env: Readonly<Record<string, string | undefined>>,
  field: string,
  secrets: Secrets,
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = env[name];
    if (found === undefined) {
      throw new UserError('E_CONFIG', `p2tui.yaml: ${field} uses \${${name}}, which is not set`, {
        hint: `Set ${name} in the environment or in the workspace's .env file.`,
        location: { file: 'p2tui.yaml', field },
      });
    }
    // The variable's own value is the secret (a server may echo the token without its "Bearer ").
    secrets.add(found);
    return found;
  });
}

/** The workspace's redactor, as the MCP connection needs it (tools/ cannot import models/). */
export interface Secrets {
  /** A value that must never be stored or shown (an env value or header given to a server). */
  add(value: string): void;
  redact(text: string): string;
  json<T>(value: T): T;
}

/** The name a model sees: `server__tool`, restricted to what every provider accepts. */
export function mcpToolName(server: string, tool: string): string {
  return `${server}__${tool}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/**
 * Connects to every configured MCP server (a stdio process or a streamable HTTP endpoint) through
 * `@modelcontextprotocol/sdk`, lists its tools and wraps each as a p2tui tool: arguments validated against the
 * server's JSON Schema before the call, a timeout, the run's cancellation passed on, and an effect class from
 * the configuration or the tool's annotations (read-only or idempotent: idempotent; otherwise effectful).
 */
export async function connectMcpServers(
  root: string,
  servers: Readonly<Record<string, McpServerSettings>>,
  env: Readonly<Record<string, string | undefined>>,
  secrets: Secrets,
): Promise<McpTools> {
  const clients: { name: string; client: Client }[] = [];
  const tools: Tool[] = [];
  const summary: { name: string; endpoint: string; tools: number }[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(clients.map(({ client }) => client.close().catch(() => undefined)));
  };
  try {
    for (const [name, s] of Object.entries(servers)) {
      const field = `mcp_servers.${name}`;
      let transport: Transport;
      let endpoint: string;
      let stderr = '';
      if (s.command !== undefined) {
        const childEnv: Record<string, string> = {};
        for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v;
        for (const [k, v] of Object.entries(s.env)) {
          childEnv[k] = expand(v, env, `${field}.env.${k}`, secrets);
        }
        const cwd = s.cwd === undefined ? root : isAbsolute(s.cwd) ? s.cwd : join(root, s.cwd);
        const stdio = new StdioClientTransport({
          command: s.command,
          args: [...s.args],
          env: childEnv,
          cwd,
          stderr: 'pipe',
        });
        // Its log lines must not land on the terminal (or the TUI); the last of them explain a failed start.
        stdio.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
        transport = stdio;
        endpoint = [s.command, ...s.args].join(' ');
      } else {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(s.headers)) {
          headers[k] = expand(v, env, `${field}.headers.${k}`, secrets);
        }
        transport = new StreamableHTTPClientTransport(new URL(s.url!), { requestInit: { headers } });
        endpoint = s.url!;
      }
      const client = new Client({ name: 'p2tui', version: '0.1.0' });
      try {
        await client.connect(transport, { timeout: s.connect_timeout_ms });
        clients.push({ name, client });
        const listed = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor === undefined ? {} : { cursor }, {
            timeout: s.connect_timeout_ms,
          });
          listed.push(...page.tools);
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        for (const spec of listed) tools.push(wrap(name, client, spec, s, secrets));
        summary.push({ name, endpoint, tools: listed.length });
      } catch (error) {
        await client.close().catch(() => undefined);
        // A server may log the environment it was given before it fails: its words pass through the redactor.
        const tail = secrets.redact(stderr.trim().split('\n').slice(-3).join(' | '));
        const why = secrets.redact(messageOf(error));
        throw new UserError(
          'E_MCP',
          `p2tui.yaml: MCP server ${name} (${endpoint}) could not be reached: ${why}${tail === '' ? '' : ` (its stderr: ${tail})`}`,
          {
            hint:
              s.command !== undefined
                ? `Check that \`${endpoint}\` starts an MCP server on stdio (try running it by hand).`
                : `Check that an MCP server answers at ${endpoint}.`,
            location: { file: 'p2tui.yaml', field },
          },
        );
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { tools, servers: summary, close };
}

interface ListedTool {
  readonly name: string;
  readonly description?: string | undefined;
  readonly inputSchema: { readonly type: 'object'; readonly [key: string]: unknown };
  readonly annotations?:
    { readonly readOnlyHint?: boolean | undefined; readonly idempotentHint?: boolean | undefined } | undefined;
}

function wrap(server: string, client: Client, spec: ListedTool, settings: McpServerSettings, secrets: Secrets): Tool {
  const name = mcpToolName(server, spec.name);
  if (!TOOL_NAME.test(name))
    throw new UserError(
      'E_TOOL_INVALID',
      `MCP server ${server} offers a tool named '${spec.name}', which cannot be made a valid tool name`,
    );
  const own = settings.tools[spec.name] ?? {};
  const effect: EffectClass =
    own.effect ??
    settings.effect ??
    (spec.annotations?.readOnlyHint === true || spec.annotations?.idempotentHint === true ? 'idempotent' : 'effectful');
  const parameters = { ...secrets.json(spec.inputSchema) } as JsonObject;
  delete parameters['$schema'];
  let input: z.ZodType;
  try {
    input = z.fromJSONSchema(parameters as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    // A schema zod cannot read: any object goes, and the server validates.
    input = z.looseObject({});
  }
  const timeoutMs = own.timeout_ms ?? settings.timeout_ms;
  return {
    [TOOL_BRAND]: true,
    name,
    // Sent to models and stored with every request: a server's own words, redacted like its results.
    description: secrets.redact(spec.description?.trim() || `${spec.name} (MCP server ${server})`),
    effect,
    cacheTtlMs: effect === 'pure' ? 5 * 60_000 : 0,
    dedup: 'none',
    timeoutMs,
    input,
    parameters,
    source: `p2tui.yaml (mcp_servers.${server})`,
    reconcile: undefined,
    run: async (args, context) => {
      const result = await client.callTool({ name: spec.name, arguments: args as Record<string, unknown> }, undefined, {
        signal: context.signal,
        timeout: timeoutMs,
      });
      const content = (result.content ?? []) as { type: string; text?: string }[];
      const text = content
        .filter((c) => c.type === 'text')
        .map((c) => c.text ?? '')
        .join('\n');
      if (result.isError === true) throw new Error(text === '' ? `${spec.name} failed` : text);
      if (result.structuredContent !== undefined) return result.structuredContent;
      // Text alone is the usual answer; anything else (images, resources) is kept as the server sent it.
      return content.every((c) => c.type === 'text') ? text : content;
    },
  };
}
