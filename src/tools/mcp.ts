import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { EffectClass } from '../core/entries.ts';
import type { McpListedTool, McpListing, McpReplay, McpServerSettings, McpTools } from './mcp-config.ts';
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
 *
 * Replaying (`replay`), a server the recorded session listed is neither started nor reached: its tools are built
 * from the recorded listing, and it is connected only if one of them must really run (a call the recording lacks,
 * with --on-miss live). A server without a recorded listing is an E_REPLAY_MISS with --on-miss fail.
 */
export async function connectMcpServers(
  root: string,
  servers: Readonly<Record<string, McpServerSettings>>,
  env: Readonly<Record<string, string | undefined>>,
  secrets: Secrets,
  replay?: McpReplay,
): Promise<McpTools> {
  const clients: Client[] = [];
  const tools: Tool[] = [];
  const summary: { name: string; endpoint: string; tools: number }[] = [];
  const listings: McpListing[] = [];
  let closed = false;
  const close = async (): Promise<void> => {
    closed = true;
    await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  };
  try {
    for (const [name, s] of Object.entries(servers)) {
      // Values substituted into env and headers are secrets even when the server is not reached: expanded now.
      const server = prepare(root, name, s, env, secrets);
      const recorded = replay?.listings.get(name);
      if (replay !== undefined && recorded === undefined && replay.onMiss === 'fail') {
        throw new UserError(
          'E_REPLAY_MISS',
          `MCP server ${name} (${server.endpoint}): the recording of ${replay.session} has no listing of its tools, ` +
            'and a replay with --on-miss fail reaches no server',
          {
            hint:
              'The session was recorded before this server was configured, or by a p2tui that did not record MCP ' +
              'listings. Replay with --on-miss live to connect to it, or remove it from p2tui.yaml.',
            location: { file: 'p2tui.yaml', field: `mcp_servers.${name}` },
          },
        );
      }
      let listed: readonly McpListedTool[];
      let client: () => Promise<Client>;
      if (recorded !== undefined) {
        listed = recorded.tools;
        let pending: Promise<Client> | undefined;
        client = () =>
          (pending ??= server.connect().then(async (connected) => {
            if (closed) {
              await connected.client.close().catch(() => undefined);
              throw new Error(`MCP server ${name}: the workspace is closed`);
            }
            clients.push(connected.client);
            return connected.client;
          }));
      } else {
        const connected = await server.connect();
        clients.push(connected.client);
        listed = connected.listed;
        client = () => Promise.resolve(connected.client);
      }
      for (const spec of listed) tools.push(wrap(name, client, spec, s, secrets));
      summary.push({ name, endpoint: server.endpoint, tools: listed.length });
      listings.push({ server: name, tools: listed });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { tools, servers: summary, listings, close };
}

interface PreparedServer {
  readonly endpoint: string;
  /** Starts (stdio) or reaches (HTTP) the server and lists its tools, redacted. */
  connect(): Promise<{ client: Client; listed: McpListedTool[] }>;
}

/** A server's transport, its env and headers expanded (and so known to the redactor), not yet started. */
function prepare(
  root: string,
  name: string,
  s: McpServerSettings,
  env: Readonly<Record<string, string | undefined>>,
  secrets: Secrets,
): PreparedServer {
  const field = `mcp_servers.${name}`;
  let transport: () => { transport: Transport; stderr: () => string };
  let endpoint: string;
  if (s.command !== undefined) {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v;
    for (const [k, v] of Object.entries(s.env)) {
      childEnv[k] = expand(v, env, `${field}.env.${k}`, secrets);
    }
    const cwd = s.cwd === undefined ? root : isAbsolute(s.cwd) ? s.cwd : join(root, s.cwd);
    const command = s.command;
    transport = () => {
      const stdio = new StdioClientTransport({ command, args: [...s.args], env: childEnv, cwd, stderr: 'pipe' });
      // Its log lines must not land on the terminal (or the TUI); the last of them explain a failed start.
      let stderr = '';
      stdio.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
      return { transport: stdio, stderr: () => stderr };
    };
    endpoint = [s.command, ...s.args].join(' ');
  } else {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.headers)) {
      headers[k] = expand(v, env, `${field}.headers.${k}`, secrets);
    }
    const url = new URL(s.url!);
    transport = () => ({
      transport: new StreamableHTTPClientTransport(url, { requestInit: { headers } }),
      stderr: () => '',
    });
    endpoint = s.url!;
  }
  const connect = async (): Promise<{ client: Client; listed: McpListedTool[] }> => {
    const made = transport();
    const client = new Client({ name: 'p2tui', version: '0.1.0' });
    try {
      await client.connect(made.transport, { timeout: s.connect_timeout_ms });
      const listed: McpListedTool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: s.connect_timeout_ms });
        listed.push(...page.tools.map((spec) => recordable(spec, secrets)));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return { client, listed };
    } catch (error) {
      await client.close().catch(() => undefined);
      // A server may log the environment it was given before it fails: its words pass through the redactor.
      const tail = secrets.redact(made.stderr().trim().split('\n').slice(-3).join(' | '));
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
  };
  return { endpoint, connect };
}

/** What p2tui uses of a listed tool, redacted: what sessions record, and what the tool is built from either way. */
function recordable(spec: McpListedTool, secrets: Secrets): McpListedTool {
  const hints = spec.annotations;
  return {
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: secrets.redact(spec.description) }),
    inputSchema: secrets.json(spec.inputSchema),
    ...(hints === undefined
      ? {}
      : {
          annotations: {
            ...(hints.readOnlyHint === undefined ? {} : { readOnlyHint: hints.readOnlyHint }),
            ...(hints.idempotentHint === undefined ? {} : { idempotentHint: hints.idempotentHint }),
          },
        }),
  };
}

function wrap(
  server: string,
  client: () => Promise<Client>,
  spec: McpListedTool,
  settings: McpServerSettings,
  secrets: Secrets,
): Tool {
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
      const result = await (
        await client()
      ).callTool({ name: spec.name, arguments: args as Record<string, unknown> }, undefined, {
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
