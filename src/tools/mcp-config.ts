import { z } from 'zod';
import type { EffectClass } from '../core/entries.ts';
import type { Tool } from './define.ts';

/** One entry of `mcp_servers:` in p2tui.yaml, as the workspace schema parses it. */
export interface McpServerSettings {
  readonly command?: string | undefined;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeout_ms: number;
  readonly connect_timeout_ms: number;
  readonly max_result_bytes: number;
  readonly list_max_pages: number;
  readonly list_timeout_ms: number;
  readonly effect?: EffectClass | undefined;
  readonly tools: Readonly<
    Record<
      string,
      {
        readonly effect?: EffectClass | undefined;
        readonly timeout_ms?: number | undefined;
        readonly as?: string | undefined;
      }
    >
  >;
}

/** Defaults of the limits on what a server may send (README, "MCP servers"). */
export const MCP_LIMITS = { max_result_bytes: 4 * 1024 * 1024, list_max_pages: 50, list_timeout_ms: 10_000 } as const;

export const mcpServerSchema = z
  .strictObject({
    /** A stdio server: the command to start (and its args, env, cwd). */
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
    /** A streamable HTTP server. */
    url: z.url().optional(),
    headers: z.record(z.string(), z.string()).default({}),
    timeout_ms: z.int().min(1).default(30_000),
    connect_timeout_ms: z.int().min(1).default(10_000),
    /** The largest message a stdio server may send (a tool's result, a page of its tool list), in bytes. */
    max_result_bytes: z.int().min(1024).default(MCP_LIMITS.max_result_bytes),
    /** Listing its tools at start: at most this many pages, within this time (a server can paginate forever). */
    list_max_pages: z.int().min(1).default(MCP_LIMITS.list_max_pages),
    list_timeout_ms: z.int().min(1).default(MCP_LIMITS.list_timeout_ms),
    /** Effect class of its tools, unless a tool's annotations or `tools.<name>.effect` say otherwise. */
    effect: z.enum(['pure', 'idempotent', 'effectful']).optional(),
    tools: z
      .record(
        z.string(),
        z.strictObject({
          effect: z.enum(['pure', 'idempotent', 'effectful']).optional(),
          timeout_ms: z.int().min(1).optional(),
          /** The name models see instead of `<server>__<tool>` (for a name that collides or reads badly). */
          as: z
            .string()
            .regex(
              /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/,
              'a tool name: letters, digits, _ and -, not starting with a digit, at most 64',
            )
            .optional(),
        }),
      )
      .default({}),
  })
  .refine((s) => (s.command === undefined) !== (s.url === undefined), {
    message: 'give either command (a stdio server) or url (a streamable HTTP server)',
  });

/** A tool as an MCP server lists it (its description and schema redacted of configured secrets). */
export interface McpListedTool {
  readonly name: string;
  readonly description?: string | undefined;
  readonly inputSchema: { readonly type: 'object'; readonly [key: string]: unknown };
  readonly annotations?:
    { readonly readOnlyHint?: boolean | undefined; readonly idempotentHint?: boolean | undefined } | undefined;
}

/** A recorded listing's tools, checked when read back (a bundle from elsewhere may carry one). */
export const mcpListedToolsSchema = z.array(
  z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    // Taken as it is (a parsed copy could reorder its keys, and so change the requests a replay must match).
    inputSchema: z.custom<McpListedTool['inputSchema']>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { type?: unknown }).type === 'object',
    ),
    annotations: z.object({ readOnlyHint: z.boolean().optional(), idempotentHint: z.boolean().optional() }).optional(),
  }),
);

/**
 * What one server listed, as a session records it: a replay builds the server's tools from it (the same names,
 * descriptions and schemas, so the same requests) without starting or reaching the server.
 */
export interface McpListing {
  readonly server: string;
  readonly tools: readonly McpListedTool[];
}

/** Replaying a session: the listings it recorded, and whether a server it lacks may be reached live. */
export interface McpReplay {
  readonly session: string;
  readonly onMiss: 'fail' | 'live';
  readonly listings: ReadonlyMap<string, McpListing>;
}

/** The tools of every configured MCP server, and how to disconnect from them all. */
export interface McpTools {
  readonly tools: readonly Tool[];
  /** Per server: how many tools it offers and where it runs, for `tools list` and `doctor`. */
  readonly servers: readonly { readonly name: string; readonly endpoint: string; readonly tools: number }[];
  /** What each server listed (or the recording it was replayed from): every new session records these. */
  readonly listings: readonly McpListing[];
  close(): Promise<void>;
}
