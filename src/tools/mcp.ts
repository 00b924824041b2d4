import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { EffectClass } from '../core/entries.ts';
import type { McpListedTool, McpListing, McpReplay, McpServerSettings, McpTools } from './mcp-config.ts';
import { systemClock } from '../core/clock.ts';
import { OutcomeUnknownError, UserError, messageOf } from '../core/errors.ts';
import type { JsonObject } from '../core/json.ts';
import { TOOL_BRAND, TOOL_NAME, type Tool } from './define.ts';
import { CappedStdioTransport, type ConnectionEnd } from './mcp-stdio.ts';
import { cappedFetch } from './mcp-http.ts';
import { checkNames, mcpToolName, type McpOrigin } from './mcp-names.ts';

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
  const connections: ServerConnection[] = [];
  const tools: Tool[] = [];
  const origins: McpOrigin[] = [];
  const summary: { name: string; endpoint: string; tools: number }[] = [];
  const listings: McpListing[] = [];
  let closed = false;
  const close = async (): Promise<void> => {
    closed = true;
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
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
      const connection = new ServerConnection(name, server, () => closed);
      connections.push(connection);
      // Replaying, a recorded server is connected only if one of its tools must really run.
      const listed = recorded?.tools ?? (await connection.list());
      for (const spec of listed) {
        tools.push(wrap(name, connection, spec, s, secrets));
        origins.push({ server: name, tool: spec.name });
      }
      summary.push({ name, endpoint: server.endpoint, tools: listed.length });
      listings.push({ server: name, tools: listed });
    }
    checkNames(tools, origins, servers);
  } catch (error) {
    await close();
    throw error;
  }
  return { tools, servers: summary, listings, close };
}

/** One live connection to a server, and why it ended once it has (only a stdio transport can say). */
interface Connected {
  readonly client: Client;
  readonly listed: McpListedTool[];
  ended(): ConnectionEnd | undefined;
  /** Tool calls out on it now, and how many were out when it ended (an oversized result is one of theirs). */
  calls: number;
  callsWhenEnded: number;
}

/**
 * A server's connection across the calls: opened at load (or, replaying, at the first call that must really run),
 * and opened again (a stdio server started again) for the next call once it ended: a server stopped for an
 * oversized result, or one that exited, does not take its tools away for the rest of the process.
 */
class ServerConnection {
  private current: Promise<Connected> | undefined;
  private opened: Client[] = [];

  readonly name: string;
  private readonly server: PreparedServer;
  private readonly isClosed: () => boolean;

  constructor(name: string, server: PreparedServer, isClosed: () => boolean) {
    this.name = name;
    this.server = server;
    this.isClosed = isClosed;
  }

  /** Connects and lists the server's tools (loading the workspace). */
  async list(): Promise<McpListedTool[]> {
    const made = this.open(true);
    this.current = made;
    return (await made).listed;
  }

  /** The connection for a call: the open one, or a new one if it ended (a server that fails to start again: E_MCP). */
  async get(): Promise<Connected> {
    const made = (this.current ??= this.open(false));
    const connected = await made;
    if (connected.client.transport !== undefined) return connected;
    if (this.current === made) this.current = undefined;
    return (this.current ??= this.open(false));
  }

  private open(list: boolean): Promise<Connected> {
    const made = this.server.connect(list).then(async (connected) => {
      if (this.isClosed()) {
        await connected.client.close().catch(() => undefined);
        throw new Error(`MCP server ${this.name}: the workspace is closed`);
      }
      // The clients of connections that ended are gone already (a long rollout may restart a server often).
      this.opened = [...this.opened.filter((client) => client.transport !== undefined), connected.client];
      return connected;
    });
    // A failed start is not kept: the next call tries again.
    made.catch(() => {
      if (this.current === made) this.current = undefined;
    });
    return made;
  }

  /**
   * What a call that failed reports. The connection ending while the call was out (the server stopped for an
   * oversized result, or exiting on its own) means it may have acted: OutcomeUnknownError, which settles an
   * effectful call as unknown.
   */
  failure(connected: Connected, tool: string, error: unknown, endedBefore: ConnectionEnd | undefined): unknown {
    const end = connected.ended();
    if (end === undefined || endedBefore !== undefined) return error;
    if (end.kind === 'too large') {
      const others = connected.callsWhenEnded - 1;
      const whose =
        others < 1
          ? tool
          : `${tool} or of ${others === 1 ? 'another call' : `one of ${others} other calls`} running on it`;
      return new OutcomeUnknownError(
        `MCP server ${this.name}: the result of ${whose} is larger than max_result_bytes (${end.limit} bytes); ` +
          (this.server.stdio
            ? 'the server was stopped at the limit and starts again at the next call'
            : 'it was cut off at the limit, and the next call connects again'),
      );
    }
    if (end.kind === 'exited') {
      const how = end.signal === null ? `with code ${end.code}` : `on ${end.signal}`;
      return new OutcomeUnknownError(
        `MCP server ${this.name} exited ${how} during the call to ${tool}, which may or may not have taken effect; ` +
          'the server starts again at the next call',
      );
    }
    return error;
  }

  async close(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((client) => client.close().catch(() => undefined)));
  }
}

interface PreparedServer {
  readonly endpoint: string;
  /** A stdio server (a process p2tui starts), not an HTTP one. */
  readonly stdio: boolean;
  /** Starts (stdio) or reaches (HTTP) the server, and lists its tools (redacted) when `list`. */
  connect(list: boolean): Promise<Connected>;
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
  let transport: () => { transport: Transport; stderr: () => string; ended: () => ConnectionEnd | undefined };
  let endpoint: string;
  if (s.command !== undefined) {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v;
    for (const [k, v] of Object.entries(s.env)) {
      childEnv[k] = expand(v, env, `${field}.env.${k}`, secrets);
    }
    const cwd = s.cwd === undefined ? root : isAbsolute(s.cwd) ? s.cwd : join(root, s.cwd);
    const launch = { command: s.command, args: s.args, env: childEnv, cwd };
    transport = () => {
      const stdio = new CappedStdioTransport(launch, s.max_result_bytes);
      // Its log lines must not land on the terminal (or the TUI); the last of them explain a failed start.
      let stderr = '';
      stdio.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
      return { transport: stdio, stderr: () => stderr, ended: () => stdio.ended };
    };
    endpoint = [s.command, ...s.args].join(' ');
  } else {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.headers)) {
      headers[k] = expand(v, env, `${field}.headers.${k}`, secrets);
    }
    const url = new URL(s.url!);
    transport = () => {
      let end: ConnectionEnd | undefined;
      const http: StreamableHTTPClientTransport = new StreamableHTTPClientTransport(url, {
        requestInit: { headers },
        fetch: cappedFetch(s.max_result_bytes, () => {
          end ??= { kind: 'too large', limit: s.max_result_bytes };
          // Closing fails the calls in flight at once (an event stream cut off would leave them to time out).
          void http.close();
        }),
      });
      return { transport: http, stderr: () => '', ended: () => end };
    };
    endpoint = s.url!;
  }
  const failed = (why: string, hint?: string): UserError =>
    new UserError('E_MCP', `p2tui.yaml: MCP server ${name} (${endpoint}) ${why}`, {
      hint:
        hint ??
        (s.command !== undefined
          ? `Check that \`${endpoint}\` starts an MCP server on stdio (try running it by hand).`
          : `Check that an MCP server answers at ${endpoint}.`),
      location: { file: 'p2tui.yaml', field },
    });
  const connect = async (list: boolean): Promise<Connected> => {
    const made = transport();
    const client = new Client({ name: 'p2tui', version: '0.1.0' });
    try {
      await client.connect(made.transport, { timeout: s.connect_timeout_ms });
      const listed = list ? await listTools(client, s, secrets, failed) : [];
      const connected: Connected = { client, listed, ended: made.ended, calls: 0, callsWhenEnded: 0 };
      // Called before the calls out on it are failed.
      client.onclose = () => (connected.callsWhenEnded = connected.calls);
      return connected;
    } catch (error) {
      await client.close().catch(() => undefined);
      if (error instanceof UserError) throw error;
      const end = made.ended();
      if (end?.kind === 'too large') {
        throw failed(
          `sent a message larger than max_result_bytes (${end.limit} bytes) while starting, and was cut off`,
          'Raise max_result_bytes for this server in p2tui.yaml if its tool list really is that large.',
        );
      }
      // A server may log the environment it was given before it fails: its words pass through the redactor.
      const tail = secrets.redact(made.stderr().trim().split('\n').slice(-3).join(' | '));
      const why = secrets.redact(messageOf(error));
      throw failed(`could not be reached: ${why}${tail === '' ? '' : ` (its stderr: ${tail})`}`);
    }
  };
  return { endpoint, stdio: s.command !== undefined, connect };
}

/**
 * All pages of a server's tools/list, within `list_max_pages` pages and `list_timeout_ms` in all: a server that
 * paginates forever (or slowly) would otherwise hang every command that loads the workspace. Real time, as the
 * SDK's own request timeouts are: it waits for an external process.
 */
async function listTools(
  client: Client,
  s: McpServerSettings,
  secrets: Secrets,
  failed: (why: string, hint: string) => UserError,
): Promise<McpListedTool[]> {
  const started = systemClock.monotonic();
  const overTime = (): UserError =>
    failed(
      `did not finish listing its tools within list_timeout_ms (${s.list_timeout_ms} ms)`,
      'Raise list_timeout_ms for this server in p2tui.yaml if it is merely slow.',
    );
  const listed: McpListedTool[] = [];
  let cursor: string | undefined;
  let pages = 0;
  let bytes = 0;
  do {
    if (pages === s.list_max_pages) {
      throw failed(
        `was still listing its tools after list_max_pages (${s.list_max_pages}) pages`,
        'Raise list_max_pages for this server in p2tui.yaml if it really has that many pages of tools.',
      );
    }
    const left = s.list_timeout_ms - (systemClock.monotonic() - started);
    if (left <= 0) throw overTime();
    let page: Awaited<ReturnType<Client['listTools']>>;
    try {
      page = await client.listTools(cursor === undefined ? {} : { cursor }, {
        timeout: Math.min(s.connect_timeout_ms, Math.ceil(left)),
      });
    } catch (error) {
      if (systemClock.monotonic() - started >= s.list_timeout_ms) throw overTime();
      throw error;
    }
    pages++;
    // The whole list, as every session records it, within max_result_bytes too (not pages × the limit).
    bytes += Buffer.byteLength(JSON.stringify(page.tools));
    if (bytes > s.max_result_bytes) {
      throw failed(
        `listed tools larger than max_result_bytes (${s.max_result_bytes} bytes) in all`,
        'Raise max_result_bytes for this server in p2tui.yaml if its tool list really is that large.',
      );
    }
    listed.push(...page.tools.map((spec) => recordable(spec, secrets)));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return listed;
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
  connection: ServerConnection,
  spec: McpListedTool,
  settings: McpServerSettings,
  secrets: Secrets,
): Tool {
  const own = settings.tools[spec.name] ?? {};
  const name = own.as ?? mcpToolName(server, spec.name);
  if (!TOOL_NAME.test(name))
    throw new UserError(
      'E_TOOL_INVALID',
      `MCP server ${server} offers a tool named '${spec.name}', which cannot be made a valid tool name`,
      { hint: `Name it in p2tui.yaml: mcp_servers.${server}.tools.${spec.name}.as: <a name>.` },
    );
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
    source:
      own.as === undefined
        ? `p2tui.yaml (mcp_servers.${server})`
        : `p2tui.yaml (mcp_servers.${server}.tools.${spec.name}.as)`,
    reconcile: undefined,
    run: async (args, context) => {
      const connected = await connection.get();
      const endedBefore = connected.ended();
      let result: Awaited<ReturnType<Client['callTool']>>;
      connected.calls++;
      try {
        result = await connected.client.callTool(
          { name: spec.name, arguments: args as Record<string, unknown> },
          undefined,
          {
            signal: context.signal,
            timeout: timeoutMs,
          },
        );
      } catch (error) {
        throw connection.failure(connected, spec.name, error, endedBefore);
      } finally {
        connected.calls--;
      }
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
