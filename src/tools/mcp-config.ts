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
  readonly effect?: EffectClass | undefined;
  readonly tools: Readonly<
    Record<string, { readonly effect?: EffectClass | undefined; readonly timeout_ms?: number | undefined }>
  >;
}

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
    /** Effect class of its tools, unless a tool's annotations or `tools.<name>.effect` say otherwise. */
    effect: z.enum(['pure', 'idempotent', 'effectful']).optional(),
    tools: z
      .record(
        z.string(),
        z.strictObject({
          effect: z.enum(['pure', 'idempotent', 'effectful']).optional(),
          timeout_ms: z.int().min(1).optional(),
        }),
      )
      .default({}),
  })
  .refine((s) => (s.command === undefined) !== (s.url === undefined), {
    message: 'give either command (a stdio server) or url (a streamable HTTP server)',
  });

/** The tools of every configured MCP server, and how to disconnect from them all. */
export interface McpTools {
  readonly tools: readonly Tool[];
  /** Per server: how many tools it offers and where it runs, for `tools list` and `doctor`. */
  readonly servers: readonly { readonly name: string; readonly endpoint: string; readonly tools: number }[];
  close(): Promise<void>;
}
